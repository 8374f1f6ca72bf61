"""The local cloud: template.yaml running on one machine, on moto, with no Docker and no AWS account.

    runtime.LocalCloud   start/stop, invoke, drain, faults, clock, aws_calls (what tests use)
    template             template.yaml read as CloudFormation/SAM would, for one local account
    provision            the template's resources created in moto through boto3
    gateway              HTTP -> API Gateway REST proxy events, the Cognito authorizer's checks
    pollers              SQS and DynamoDB stream event source mappings, Lambda's semantics
    schedules            EventBridge Scheduler one-time schedules, on the local clock
    faults               duplicate / reorder / drop-then-redeliver / crash-after-k-calls
    tokens, token        local ID tokens (.venv/bin/python -m infra.localcloud.token)
    devtools             local-only helpers under /_local/: emails sent, a tail of the bus, clock, reset
    demo                 the demo companies `make run` seeds, and the shell exports README's walks use
    __main__             `make run`: python -m infra.localcloud
"""
