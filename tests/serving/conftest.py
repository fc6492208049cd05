"""Small real models for the serving tests: penguin classifiers exported as TFX exports them
(``serving_default`` takes serialized raw tf.Examples) plus a float-input signature, and TFLite."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mlprod import datasets

FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]


def export_penguin_model(path: Path, *, epochs: int = 30, seed: int = 0, flip: bool = False) -> float:
    """Train a small classifier on the penguins and save it as a SavedModel version folder.

    ``flip`` trains on permuted labels (a deliberately different model). Returns train accuracy.
    """
    import tensorflow as tf

    df = datasets.penguins().dropna()
    x = df[FEATURES].to_numpy(np.float32)
    y = df["species"].to_numpy(np.int64)
    if flip:
        y = (y + 1) % 3
    tf.keras.utils.set_random_seed(seed)
    norm = tf.keras.layers.Normalization()
    norm.adapt(x)
    model = tf.keras.Sequential([tf.keras.Input((4,)), norm, tf.keras.layers.Dense(16, activation="relu"),
                                 tf.keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    spec = {f: tf.io.FixedLenFeature([], tf.float32) for f in FEATURES}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples: tf.Tensor) -> dict:
        feats = tf.io.parse_example(examples, spec)
        return {"outputs": model(tf.stack([feats[f] for f in FEATURES], axis=1))}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
    def by_features(features: tf.Tensor) -> dict:
        p = model(features)
        return {"scores": p, "classes": tf.argmax(p, axis=1)}

    model.save(str(path), save_format="tf", signatures={"serving_default": serve, "by_features": by_features})
    return float(hist.history["accuracy"][-1])


def export_tflite(path: Path, seed: int = 0) -> None:
    import tensorflow as tf

    df = datasets.penguins().dropna()
    x = df[FEATURES].to_numpy(np.float32)
    tf.keras.utils.set_random_seed(seed)
    norm = tf.keras.layers.Normalization()
    norm.adapt(x)
    model = tf.keras.Sequential([tf.keras.Input((4,)), norm, tf.keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, df["species"].to_numpy(), epochs=5, verbose=0)
    path.mkdir(parents=True)
    (path / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def make_test_pki(folder: Path) -> dict[str, str]:
    """A test CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed, as
    PEM files in ``folder``: ``{ca,server,client}_{cert,key}`` -> path (``cryptography``, made here)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject: str, key, issuer: str, issuer_key, ca: bool, usage=None, san=None):
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)  # Python 3.13 verifies strictly (RFC 5280): both identifiers
             .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca,
                                          content_commitment=False, key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False, decipher_only=False),
                            critical=True))
        if usage:
            b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    out = {}

    def write(stem: str, c, key) -> None:
        out[f"{stem}_cert"] = str(folder / f"{stem}.pem")
        out[f"{stem}_key"] = str(folder / f"{stem}.key")
        Path(out[f"{stem}_cert"]).write_bytes(c.public_bytes(serialization.Encoding.PEM))
        Path(out[f"{stem}_key"]).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    write("ca", cert("mlprod test CA", ca_key, "mlprod test CA", ca_key, True), ca_key)
    sk = ec.generate_private_key(ec.SECP256R1())
    write("server", cert("127.0.0.1", sk, "mlprod test CA", ca_key, False, ExtendedKeyUsageOID.SERVER_AUTH,
                         [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), sk)
    ck = ec.generate_private_key(ec.SECP256R1())
    write("client", cert("client", ck, "mlprod test CA", ca_key, False, ExtendedKeyUsageOID.CLIENT_AUTH), ck)
    return out


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Version folders built once: ``good`` (v1 accurate) and ``flipped`` (a different model)."""
    root = tmp_path_factory.mktemp("models")
    export_penguin_model(root / "good", epochs=40)
    export_penguin_model(root / "flipped", epochs=40, flip=True)
    export_tflite(root / "tflite")
    return {"good": root / "good", "flipped": root / "flipped", "tflite": root / "tflite"}


@pytest.fixture(scope="session")
def base(model_store: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Pusher-style base folder holding version 1 (the ``good`` model); tests only read it."""
    b = tmp_path_factory.mktemp("serving") / "penguin"
    b.mkdir()
    shutil.copytree(model_store["good"], b / "1")
    return b


def penguin_rows(n: int = 10) -> list[dict]:
    df = datasets.penguins().dropna().head(n)
    return [{f: float(r[f]) for f in FEATURES} for _, r in df.iterrows()]
