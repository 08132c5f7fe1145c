"""Pure rules of the job: no boto3, botocore or requests here (a test checks)."""
