"""The handler of the lambda-python example: echoes its event.

An event {"fail": MESSAGE} makes it raise ValueError(MESSAGE) instead.
"""

import sys


def handler(event, context):
    print("handling request %s" % context.aws_request_id, file=sys.stderr)
    if isinstance(event, dict) and "fail" in event:
        raise ValueError(event["fail"])
    return {"echo": event, "runtime": "python", "request_id": context.aws_request_id}
