//! Certificates made for a test with `openssl`, and `curl` as the HTTPS
//! client: the web configuration's tests use tools that share no code with
//! the agent.

use std::{fs, path::PathBuf, process::Command};

use crate::run_ok;

/// A folder of keys and certificates, removed when dropped.
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// An empty folder named after `name` and this process.
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("pp-pki-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Pki { dir }
    }

    /// The path of `name` in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `text` to `name` in the folder; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// A self-signed CA, `NAME.pem` and `NAME.key`.
    pub fn ca(&self, name: &str) {
        run_ok(Command::new("openssl").current_dir(&self.dir).args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ]));
    }

    /// A certificate `NAME.pem` (with `NAME.key`) signed by CA `ca`: for a
    /// server at 127.0.0.1 and localhost, or for a client.
    pub fn leaf(&self, name: &str, ca: &str, server: bool) {
        let usage = if server {
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        } else {
            "extendedKeyUsage=clientAuth\n"
        };
        self.write(&format!("{name}.ext"), usage);
        self.signed(name, ca, &["-extfile", &format!("{name}.ext")]);
    }

    /// A client certificate `NAME.pem` (with `NAME.key`) signed by CA `ca`
    /// with no extensions: X.509 version 1, as `openssl x509 -req` makes
    /// without `-extfile`.
    pub fn leaf_v1(&self, name: &str, ca: &str) {
        self.signed(name, ca, &[]);
    }

    /// `NAME.key`, and `NAME.pem` signed by `ca` with `extra` arguments.
    fn signed(&self, name: &str, ca: &str, extra: &[&str]) {
        run_ok(Command::new("openssl").current_dir(&self.dir).args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]));
        run_ok(
            Command::new("openssl")
                .current_dir(&self.dir)
                .args([
                    "x509",
                    "-req",
                    "-days",
                    "2",
                    "-set_serial",
                    &std::process::id().to_string(),
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.pem"),
                    "-CAkey",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{name}.pem"),
                ])
                .args(extra),
        );
    }

    /// The `notAfter` of certificate `NAME.pem` in Unix seconds, as
    /// `openssl` reads it.
    pub fn not_after(&self, name: &str) -> i64 {
        let out = run_ok(Command::new("openssl").current_dir(&self.dir).args([
            "x509",
            "-noout",
            "-enddate",
            "-dateopt",
            "iso_8601",
            "-in",
            &format!("{name}.pem"),
        ]));
        let date = out.trim().strip_prefix("notAfter=").expect("notAfter=DATE");
        let epoch = run_ok(Command::new("date").args(["-u", "-d", date, "+%s"]));
        epoch.trim().parse().expect("date +%s prints seconds")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A bcrypt hash of `password` for `user`, made by `htpasswd`.
pub fn bcrypt_hash(user: &str, password: &str) -> String {
    let line = run_ok(Command::new("htpasswd").args(["-nbBC", "10", user, password]));
    line.trim()
        .strip_prefix(&format!("{user}:"))
        .expect("htpasswd prints USER:HASH")
        .to_owned()
}

/// What `curl` made of one request.
#[derive(Debug)]
pub struct Curl {
    /// curl's exit code: 0 when it got an answer, 60 for a server
    /// certificate it does not trust, 35/56 for a handshake refused, ...
    pub exit: i32,
    /// The HTTP status (0 without an answer).
    pub status: u16,
    /// The body.
    pub body: String,
    /// The headers.
    pub headers: String,
}

/// Runs `curl URL ARGS` (ten seconds at most).
pub fn curl(url: &str, args: &[&str]) -> Curl {
    let dir = std::env::temp_dir();
    let headers = dir.join(format!("pp-curl-headers-{}", std::process::id()));
    let out = Command::new("curl")
        .args(["--silent", "--max-time", "10", "--dump-header"])
        .arg(&headers)
        .args(["--write-out", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("cannot run curl (installed by `cargo xtask test`)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let result = Curl {
        exit: out.status.code().unwrap_or(-1),
        status: status.trim().parse().unwrap_or(0),
        body: body.to_owned(),
        headers: fs::read_to_string(&headers).unwrap_or_default(),
    };
    let _ = fs::remove_file(&headers);
    result
}
