"""The Aiuta Studio API: its models (strict requests, tolerant answers), the client, operations."""
