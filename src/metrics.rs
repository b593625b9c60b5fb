//! Counters since start, for the status page (`http://strainer.local/`) and Prometheus (`/metrics`).
