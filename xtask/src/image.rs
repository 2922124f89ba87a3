//! `cargo xtask image`: the container image for amd64 and arm64, built
//! from the Dockerfile by the container engine this machine has (docker
//! with buildx, or podman); where none runs, it says so and what to run
//! where one does.

use std::process::Command;

use anyhow::{Result, bail};

use crate::cmd::{self, on_path, output, workspace_root};

/// The platforms the image is built for.
pub const PLATFORMS: &str = "linux/amd64,linux/arm64";

/// The image name without a registry of one's own.
fn default_tag() -> String {
    format!(
        "ghcr.io/pressure-probe/pressure-probe:{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// A container engine that answers.
enum Engine {
    Docker,
    Podman,
}

fn engine() -> Option<Engine> {
    let answers = |program: &str, args: &[&str]| {
        on_path(program) && output(Command::new(program).args(args)).is_some()
    };
    if answers("docker", &["buildx", "version"]) && answers("docker", &["info"]) {
        Some(Engine::Docker)
    } else if answers("podman", &["info"]) {
        Some(Engine::Podman)
    } else {
        None
    }
}

/// Builds the image `tag` (default: this version's) for `platforms`
/// (default: amd64 and arm64), pushing it with `push` (a multi-platform
/// image cannot be loaded into docker's local store: without `push`,
/// docker builds the host's platform only, unless `platforms` says
/// otherwise).
pub fn image(tag: Option<&str>, platforms: Option<&str>, push: bool) -> Result<()> {
    let tag = tag.map_or_else(default_tag, str::to_owned);
    let Some(engine) = engine() else {
        bail!(
            "no container engine runs here (neither docker with buildx nor podman answers). \
             Where one does, run `cargo xtask image --tag <registry>/pressure-probe:<tag> \
             --push`, or `docker buildx build --platform {PLATFORMS} -t \
             <registry>/pressure-probe:<tag> --push .`. Without one, `cargo xtask build \
             --release --target aarch64-unknown-linux-gnu` builds the arm64 agent (and \
             x86_64-unknown-linux-gnu the amd64 one)"
        );
    };
    let root = workspace_root();
    let mut command = match engine {
        Engine::Docker => {
            let mut command = Command::new("docker");
            command.args(["buildx", "build", "--tag", &tag]);
            match (platforms, push) {
                (Some(platforms), false) if platforms.contains(',') => bail!(
                    "docker cannot load an image of several platforms ({platforms}) into its \
                     local store: add --push, or name one platform"
                ),
                (Some(platforms), _) => command.args(["--platform", platforms]),
                (None, true) => command.args(["--platform", PLATFORMS]),
                (None, false) => &mut command,
            };
            command.arg(if push { "--push" } else { "--load" });
            command
        }
        Engine::Podman => {
            // `--manifest` adds to a manifest of that name: start afresh.
            let _ = output(Command::new("podman").args(["manifest", "rm", &tag]));
            let mut command = Command::new("podman");
            command.args([
                "build",
                "--platform",
                platforms.unwrap_or(PLATFORMS),
                "--manifest",
                &tag,
            ]);
            command
        }
    };
    cmd::run(command.arg(&root))?;
    if push && matches!(engine, Engine::Podman) {
        cmd::run(Command::new("podman").args(["manifest", "push", &tag]))?;
    }
    Ok(())
}
