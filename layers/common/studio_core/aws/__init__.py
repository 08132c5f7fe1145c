"""AWS access behind small adapters: S3, the jobs table, executions, queue messages."""
