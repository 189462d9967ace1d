import pytest

from app import PUBLIC_URL

PATH = "/messagebird/callback?source=personal-data"
BODY = b'{"requestId":"4a2a1b3c","requestKind":"KIND_PERSONAL_GET","data":"https://archive.example/1.zip"}'


def post(client, headers):
    return client.post(PATH, data=BODY, headers=headers, content_type="application/json")


def test_a_genuine_callback_is_accepted(client, messagebird_signer):
    assert post(client, messagebird_signer(PUBLIC_URL + PATH, BODY)).status_code == 200


@pytest.mark.parametrize(
    ("broken_rule", "reason"),
    [
        ("expired", "timestamp_out_of_tolerance"),
        ("wrong_key", "bad_signature"),
        ("wrong_url", "url_mismatch"),
        ("tampered_body", "bad_signature"),
        ("wrong_alg", "alg_not_allowed"),
    ],
)
def test_a_callback_breaking_one_rule_is_refused(client, messagebird_signer, caplog, broken_rule, reason):
    headers = messagebird_signer(PUBLIC_URL + PATH, BODY, **{broken_rule: True})
    assert post(client, headers).status_code == 401
    assert f"callback refused: {reason}" in caplog.text


def test_a_replayed_callback_is_refused(client, messagebird_signer, caplog):
    assert post(client, messagebird_signer(PUBLIC_URL + PATH, BODY)).status_code == 200
    assert post(client, messagebird_signer(PUBLIC_URL + PATH, BODY, replayed=True)).status_code == 401
    assert "callback refused: replayed" in caplog.text
