//! SIGTERM or Ctrl-C, for the long-running commands (`dev-issuer`, `agent`).

/// SIGTERM or Ctrl-C, registered when installed so none is lost before `wait`.
pub struct StopSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    interrupt: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>,
}

impl StopSignal {
    /// Registers the handlers now, so a signal sent right after start-up is seen.
    pub fn install() -> Self {
        let mut interrupt: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> =
            Box::pin(tokio::signal::ctrl_c());
        // ctrl_c() registers its handler on first poll; poll once now so it is live.
        let waker = std::task::Waker::noop();
        let _ = interrupt.as_mut().poll(&mut std::task::Context::from_waker(waker));
        Self {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
            interrupt,
        }
    }

    /// Returns on the first SIGTERM or Ctrl-C.
    pub async fn wait(self) {
        let Self {
            #[cfg(unix)]
            term,
            interrupt,
        } = self;
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = interrupt => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = interrupt.await;
    }
}
