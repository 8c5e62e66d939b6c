"""Where messages come in: the SQS edge, pollers, reading and trusting each message body."""
