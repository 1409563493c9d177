"""Running the suite on one machine: process manager, replicas behind HAProxy, run, fuzz."""
