"""
Starts moto's server exactly as its `moto_server` command does (same arguments), with two
changes that only make it faster, and one that makes it behave as AWS does.

- moto's dispatcher lists its own package directory (os.listdir and an isdir per entry) on
  every request, under a lock every request takes: the listing is made once here. The
  directory does not change while the server runs.
- werkzeug logs one access line per request through a lock-guarded stream handler, about an
  eighth of the server's CPU under load. Off unless CERTKEEPER_MOTO_ACCESS_LOG=1; errors are
  still logged.
- KMS Sign and Verify with MessageType DIGEST: AWS signs the digest it is given (the
  caller hashed the message; that is how certkeeper's agents CA signs certificates and
  CRLs larger than Sign's 4 KiB message limit), while moto 5.2.5 ignores MessageType and
  hashes the digest again, so every signature it makes over a digest is wrong. Here a
  DIGEST message is signed and verified as prehashed, as AWS documents
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html); RAW is untouched.

Run with the venv's python: python moto-server.py -H 127.0.0.1 -p PORT
"""

import logging
import os
import threading

import moto.backends
from cryptography.hazmat.primitives.asymmetric import ec, utils
from moto.kms import utils as kms_utils
from moto.kms.responses import KmsResponse
from moto.server import main

_modules = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _modules

if os.environ.get("CERTKEEPER_MOTO_ACCESS_LOG") != "1":
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

# Whether the request being handled (on this thread) signs a digest.
_digest = threading.local()


def _with_message_type(operation):
    def wrapped(self):
        _digest.on = self._get_param("MessageType") == "DIGEST"
        try:
            return operation(self)
        finally:
            _digest.on = False

    return wrapped


KmsResponse.sign = _with_message_type(KmsResponse.sign)
KmsResponse.verify = _with_message_type(KmsResponse.verify)

_HASHES = {
    "ECDSA_SHA_256": utils.hashes.SHA256,
    "ECDSA_SHA_384": utils.hashes.SHA384,
    "ECDSA_SHA_512": utils.hashes.SHA512,
}
_ecdsa_sign = kms_utils.ECDSAPrivateKey.sign
_ecdsa_verify = kms_utils.ECDSAPrivateKey.verify


def _sign(self, message, signing_algorithm):
    if not getattr(_digest, "on", False):
        return _ecdsa_sign(self, message, signing_algorithm)
    kms_utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    prehashed = utils.Prehashed(_HASHES[signing_algorithm]())
    return self.private_key.sign(message, ec.ECDSA(prehashed))


def _verify(self, message, signature, signing_algorithm):
    if not getattr(_digest, "on", False):
        return _ecdsa_verify(self, message, signature, signing_algorithm)
    kms_utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    prehashed = utils.Prehashed(_HASHES[signing_algorithm]())
    try:
        self.private_key.public_key().verify(signature, message, ec.ECDSA(prehashed))
        return True
    except Exception:
        return False


kms_utils.ECDSAPrivateKey.sign = _sign
kms_utils.ECDSAPrivateKey.verify = _verify

if __name__ == "__main__":
    main()
