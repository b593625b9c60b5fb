//! Telling a service manager (systemd `Type=notify`) how the proxy is doing: ready once the listener is bound and
//! the rules are loaded, stopping when a shutdown signal arrived. Without `NOTIFY_SOCKET` (not started by
//! systemd) every call does nothing.

/// What the proxy tells the service manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// The listener is up and the rules are loaded.
    Ready,
    /// A shutdown signal arrived; the proxy drains.
    Stopping,
}

/// Sends `state` (and a human-readable `status` line) to the service manager, if one is listening. A failure is
/// logged, never fatal: the proxy works the same without a service manager.
pub fn notify(state: ServiceState, status: &str) {
    #[cfg(unix)]
    {
        let flag = match state {
            ServiceState::Ready => sd_notify::NotifyState::Ready,
            ServiceState::Stopping => sd_notify::NotifyState::Stopping,
        };
        if let Err(error) = sd_notify::notify(&[flag, sd_notify::NotifyState::Status(status)]) {
            tracing::warn!(error = %error, "cannot notify the service manager");
        }
    }
    #[cfg(not(unix))]
    let _ = (state, status);
}
