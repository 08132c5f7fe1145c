"""One module per state machine task (and ingest): read, decide (pure), write. No step imports another."""
