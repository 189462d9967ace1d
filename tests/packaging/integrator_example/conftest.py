import pytest

from app import create_app


@pytest.fixture
def messagebird_signing_key():  # the keys your app is configured with in tests
    return "the-signing-key-in-our-test-settings"


@pytest.fixture
def messagebird_signature_key():  # base64, as MessageBird hands it out
    return "dGhlIHNpZ25hdHVyZSBrZXkgb2Ygb25lIHJlcXVlc3Q="


@pytest.fixture
def client(messagebird_signing_key, messagebird_signature_key):
    return create_app(messagebird_signing_key, messagebird_signature_key).test_client()
