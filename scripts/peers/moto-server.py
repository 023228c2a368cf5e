"""
Starts moto's server exactly as its `moto_server` command does (same arguments), with two
changes that only make it faster, and one that makes KMS Sign behave as AWS documents it.

- moto's dispatcher lists its own package directory (os.listdir and an isdir per entry) on
  every request, under a lock every request takes: the listing is made once here. The
  directory does not change while the server runs.
- werkzeug logs one access line per request through a lock-guarded stream handler, about an
  eighth of the server's CPU under load. Off unless CERTKEEPER_MOTO_ACCESS_LOG=1; errors are
  still logged.

- KMS Sign and Verify with `MessageType: DIGEST` (moto 5.2.5 reads the parameter and drops
  it): AWS signs the digest it is given as it is, moto hashed it again, so every signature
  over a digest (the agents' CA key, shared/identity/kms-signer.ts) failed to verify. Here an
  ECDSA key signs and verifies a DIGEST message prehashed, as KMS does
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html, MessageType). RAW
  messages are unchanged; RSA keys are left as moto has them (certkeeper signs with
  ECC_NIST_P256 only).

Run with the venv's python: python moto-server.py -H 127.0.0.1 -p PORT
"""

import logging
import os
import threading

import moto.backends
import moto.kms.responses as kms_responses
import moto.kms.utils as kms_utils
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.server import main

_modules = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _modules

if os.environ.get("CERTKEEPER_MOTO_ACCESS_LOG") != "1":
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

# The request's MessageType, for the key's sign/verify below (one request per server thread).
_digest = threading.local()


def _with_message_type(respond):
    def method(self):
        _digest.on = self._get_param("MessageType") == "DIGEST"
        try:
            return respond(self)
        finally:
            _digest.on = False

    return method


def _ecdsa(key, signing_algorithm):
    kms_utils.validate_signing_algorithm(signing_algorithm, key.valid_signing_algorithms)
    hash_algorithm = key._ECDSAPrivateKey__hash_algorithm(signing_algorithm)
    return ec.ECDSA(Prehashed(hash_algorithm) if getattr(_digest, "on", False) else hash_algorithm)


def _ecdsa_sign(self, message, signing_algorithm):
    return self.private_key.sign(message, _ecdsa(self, signing_algorithm))


def _ecdsa_verify(self, message, signature, signing_algorithm):
    try:
        self.private_key.public_key().verify(signature, message, _ecdsa(self, signing_algorithm))
        return True
    except InvalidSignature:
        return False


kms_responses.KmsResponse.sign = _with_message_type(kms_responses.KmsResponse.sign)
kms_responses.KmsResponse.verify = _with_message_type(kms_responses.KmsResponse.verify)
kms_utils.ECDSAPrivateKey.sign = _ecdsa_sign
kms_utils.ECDSAPrivateKey.verify = _ecdsa_verify

if __name__ == "__main__":
    main()
