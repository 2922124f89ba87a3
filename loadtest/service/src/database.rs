//! The demo's database: answers every request line with `ok` after a set
//! delay, on any number of connections at once (the service's connection
//! pool bounds how many it uses).

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// Options of `database`.
#[derive(Args)]
pub struct Options {
    /// Address to listen on (port 0: any; the chosen address is printed as
    /// `listening ADDR`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Milliseconds before each answer.
    #[arg(long, default_value_t = 100)]
    delay_ms: u64,
}

/// Serves until killed.
pub fn run(options: Options) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(&options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        println!("listening {}", listener.local_addr()?);
        let delay = Duration::from_millis(options.delay_ms);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(_)) = lines.next_line().await {
                    tokio::time::sleep(delay).await;
                    if write.write_all(b"ok\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
