//! A connection's stream whose writes fail once the answer being written is
//! older than a bound: a client that stops reading (or reads a trickle)
//! holds its answer, and the sample the answer was encoded from, for that
//! long and no longer.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Sleep,
};

/// When the answer being written was handed over, as the connection says.
pub trait AnswerClock {
    /// When the answer now being written was ready (`None`: none yet).
    fn answered_at(&self) -> Option<Instant>;
}

/// `inner`, its writes bounded to `limit` from when their answer was ready.
pub struct WriteDeadline<S, C> {
    inner: S,
    clock: Arc<C>,
    limit: Duration,
    /// Wakes a write that waits on the client at the deadline.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S, C: AnswerClock> WriteDeadline<S, C> {
    /// Bounds the writes on `inner` to `limit` after `clock`'s answer.
    pub fn new(inner: S, clock: Arc<C>, limit: Duration) -> Self {
        Self {
            inner,
            clock,
            limit,
            timer: None,
        }
    }

    /// Runs `write`, or fails it once the answer's time is up (a write that
    /// waits is woken then).
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        S: Unpin,
    {
        let Some(deadline) = self.clock.answered_at().map(|at| at + self.limit) else {
            return write(Pin::new(&mut self.inner), cx);
        };
        if Instant::now() >= deadline {
            return Poll::Ready(Err(timed_out(self.limit)));
        }
        match write(Pin::new(&mut self.inner), cx) {
            Poll::Pending => {
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
                if timer.deadline() != deadline.into() {
                    timer.as_mut().reset(deadline.into());
                }
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Err(timed_out(self.limit)))
            }
            done => done,
        }
    }
}

fn timed_out(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the client did not read the answer within {} s",
            limit.as_secs_f64()
        ),
    )
}

impl<S: AsyncRead + Unpin, C> AsyncRead for WriteDeadline<S, C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin, C: AnswerClock> AsyncWrite for WriteDeadline<S, C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    struct Clock(Mutex<Option<Instant>>);

    impl AnswerClock for Clock {
        fn answered_at(&self) -> Option<Instant> {
            *self.0.lock().unwrap()
        }
    }

    /// A client that reads nothing: the write fails at the deadline, not
    /// before (the clock is tokio's paused one).
    #[tokio::test(start_paused = true)]
    async fn a_write_the_client_never_reads_fails_at_the_deadline() {
        let (server, mut client) = tokio::io::duplex(1024);
        let clock = Arc::new(Clock(Mutex::new(Some(Instant::now()))));
        let mut stream = WriteDeadline::new(server, clock, Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        let err = stream.write_all(&[0; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // tokio's timers have a resolution of a millisecond.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited <= Duration::from_millis(30_001),
            "failed after {waited:?}"
        );
        // What fitted was written.
        let mut got = vec![0; 1024];
        client.read_exact(&mut got).await.unwrap();
    }

    /// A client that reads keeps the connection; with no answer on its way,
    /// writes are not bounded.
    #[tokio::test(start_paused = true)]
    async fn writes_the_client_reads_pass() {
        let (server, mut client) = tokio::io::duplex(1024);
        let clock = Arc::new(Clock(Mutex::new(None)));
        let mut stream = WriteDeadline::new(server, clock.clone(), Duration::from_secs(30));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
            all.len()
        });
        stream.write_all(&[1; 8192]).await.unwrap();
        *clock.0.lock().unwrap() = Some(Instant::now());
        stream.write_all(&[2; 8192]).await.unwrap();
        stream.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), 16384);
    }
}
