"""Credentials moto's S3 server checks, for tests of wrong credentials.

moto accepts any credentials until authentication is turned on (its /moto-api/reset-auth);
then it checks SigV4 signatures against the access keys of its IAM users, as AWS does. This
makes a user allowed s3:*, returns its keys, turns checking on; `revoke` deletes a key (a
rotated or revoked key), and `no_checks` turns checking off again for the next test.
"""

import json
import re

import requests

# moto tells services apart by the credential scope of a request's Authorization header; while
# checking is off the signature itself is not verified.
IAM_SCOPE = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"  # fmt: skip
S3_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}  # fmt: skip


def _iam(endpoint: str, action: str, **params: str) -> str:
    form = {"Action": action, "Version": "2010-05-08", **params}
    answer = requests.post(endpoint, data=form, headers={"Authorization": IAM_SCOPE}, timeout=10)
    answer.raise_for_status()
    return answer.text


def _checks(endpoint: str, free_requests: float) -> None:
    requests.post(f"{endpoint}/moto-api/reset-auth", data=str(free_requests), timeout=10).raise_for_status()  # fmt: skip


def checked_credentials(endpoint: str, user: str = "model-sync") -> dict[str, str]:
    """A user allowed s3:*, its access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), and
    checking turned on: from now on only signed requests with a known key are served."""
    _iam(endpoint, "CreateUser", UserName=user)
    _iam(
        endpoint, "PutUserPolicy", UserName=user, PolicyName="s3", PolicyDocument=json.dumps(S3_ALL)
    )
    created = _iam(endpoint, "CreateAccessKey", UserName=user)
    key_id = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", created)
    secret = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", created)
    assert key_id, created
    assert secret, created
    _checks(endpoint, 0)
    return {"AWS_ACCESS_KEY_ID": key_id[1], "AWS_SECRET_ACCESS_KEY": secret[1]}


def revoke(endpoint: str, access_key_id: str, user: str = "model-sync") -> None:
    """Delete the key: requests signed with it are refused (InvalidAccessKeyId)."""
    _checks(endpoint, float("inf"))
    _iam(endpoint, "DeleteAccessKey", UserName=user, AccessKeyId=access_key_id)
    _checks(endpoint, 0)


def no_checks(endpoint: str) -> None:
    _checks(endpoint, float("inf"))
