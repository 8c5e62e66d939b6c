"""`bounced demo`: the real daemon against an in-process SQS/SNS emulator and a PostgreSQL it owns.

`campaign` builds the feedback a newsletter campaign gets back (pure); `embedded` starts and stops
the emulator and the database; `runner` wires them to the real `Daemon`, publishes the campaign,
waits and reads the outcome; `summary` renders it for a person.
"""
