"""Runtime: clients that execute requests against the embedded engine, a running engine server, or providers."""
