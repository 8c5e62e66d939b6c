"""The running daemon: lifecycle, scheduler, retention, HTTP, health, metrics, systemd."""
