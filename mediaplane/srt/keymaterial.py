"""Key material (HaiCrypt KM messages), key derivation and AES-CTR payload encryption.

draft-sharabayko-srt section 3.2.2 (KM message) and section 6 (encryption):

* KEK = PBKDF2-HMAC-SHA1(passphrase, last 8 bytes of the 16-byte salt, 2048 iterations, key length);
* the stream encrypting keys (SEK, even and/or odd) travel wrapped with RFC 3394 AES key wrap;
* a payload is AES-CTR encrypted with IV = salt[0:14] XOR (packet sequence number at bytes 10..13),
  the block counter in the last two bytes.
"""

from __future__ import annotations

import enum
import hashlib
import random
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from .errors import ParseError, SrtError
from .packet import KeyFlag

KM_HEADER_SIZE = 16
KM_SIGNATURE = 0x2029
KM_VERSION_TYPE = 0x12
"""Byte 0: S=0, version 1, packet type 2 (KMmsg)."""
CIPHER_AES_CTR = 2
SE_SRT = 2
SALT_SIZE = 16
PBKDF2_ITERATIONS = 2048
PBKDF2_SALT_BYTES = 8
WRAP_OVERHEAD = 8
KEY_LENGTHS = (16, 24, 32)
MIN_PASSPHRASE = 10
MAX_PASSPHRASE = 79


class KmState(enum.IntEnum):
    """``SRT_KM_STATE``: a failing KMRSP carries one of these as its only word."""

    UNSECURED = 0
    SECURING = 1
    SECURED = 2
    NOSECRET = 3
    BADSECRET = 4


class BadSecret(SrtError):
    """The wrapped keys did not unwrap with our passphrase (RFC 3394 integrity check failed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyMaterialMessage:
    """A KM message as carried by KMREQ / KMRSP (handshake extension or user control packet)."""

    key_flags: KeyFlag
    key_len: int
    salt: bytes
    wrapped_keys: bytes
    cipher: int = CIPHER_AES_CTR
    auth: int = 0
    stream_encapsulation: int = SE_SRT
    keki: int = 0

    def encode(self) -> bytes:
        head = struct.pack(
            ">BHBIBBBBHBB",
            KM_VERSION_TYPE,
            KM_SIGNATURE,
            int(self.key_flags) & 0x3,
            self.keki,
            self.cipher,
            self.auth,
            self.stream_encapsulation,
            0,
            0,
            len(self.salt) // 4,
            self.key_len // 4,
        )
        return head + self.salt + self.wrapped_keys

    @classmethod
    def decode(cls, data: bytes) -> KeyMaterialMessage:
        """Raises ParseError."""
        if len(data) < KM_HEADER_SIZE:
            raise ParseError("truncated key material")
        vt, sign, kk, keki, cipher, auth, se, _, _, slen4, klen4 = struct.unpack_from(">BHBIBBBBHBB", data)
        if vt != KM_VERSION_TYPE or sign != KM_SIGNATURE:
            raise ParseError("bad key material signature")
        key_flags = KeyFlag(kk & 0x3)
        if key_flags is KeyFlag.NONE:
            raise ParseError("key material without keys")
        key_len = klen4 * 4
        if key_len not in KEY_LENGTHS:
            raise ParseError("bad key length")
        salt_len = slen4 * 4
        nkeys = 2 if key_flags is KeyFlag.BOTH else 1
        wrapped_len = WRAP_OVERHEAD + nkeys * key_len
        if len(data) < KM_HEADER_SIZE + salt_len + wrapped_len:
            raise ParseError("truncated key material")
        salt = bytes(data[KM_HEADER_SIZE : KM_HEADER_SIZE + salt_len])
        wrapped = bytes(data[KM_HEADER_SIZE + salt_len : KM_HEADER_SIZE + salt_len + wrapped_len])
        return cls(
            key_flags=key_flags,
            key_len=key_len,
            salt=salt,
            wrapped_keys=wrapped,
            cipher=cipher,
            auth=auth,
            stream_encapsulation=se,
            keki=keki,
        )


def derive_kek(passphrase: str, salt: bytes, key_len: int) -> bytes:
    """Key encrypting key from the passphrase (PBKDF2 over the salt's last 8 bytes)."""
    return hashlib.pbkdf2_hmac(
        "sha1", passphrase.encode("utf-8"), salt[-PBKDF2_SALT_BYTES:], PBKDF2_ITERATIONS, key_len
    )


def make_iv(salt: bytes, seq: int) -> bytes:
    """AES-CTR initial counter block for packet ``seq`` (section 6.2.2)."""
    iv = bytearray(salt[:14].ljust(14, b"\x00")) + b"\x00\x00"
    s = struct.pack(">I", seq)
    for i in range(4):
        iv[10 + i] ^= s[i]
    return bytes(iv)


class PacketCipher:
    """AES-CTR over packet payloads with one SEK and salt; encryption and decryption are the same."""

    __slots__ = ("_aes", "_salt_head", "_salt_tail", "key")

    def __init__(self, key: bytes, salt: bytes) -> None:
        self.key = key
        self._aes = algorithms.AES(key)
        base = salt[:14].ljust(14, b"\x00")
        self._salt_head = base[:10]
        self._salt_tail = int.from_bytes(base[10:14], "big")

    def crypt(self, seq: int, payload: bytes) -> bytes:
        iv = self._salt_head + ((self._salt_tail ^ seq) & 0xFFFFFFFF).to_bytes(4, "big") + b"\x00\x00"
        enc = Cipher(self._aes, modes.CTR(iv)).encryptor()
        return enc.update(payload) + enc.finalize()


@dataclass(slots=True)
class KeySet:
    """Salt plus even and odd stream keys of one direction."""

    salt: bytes
    key_len: int
    even: PacketCipher | None = None
    odd: PacketCipher | None = None

    def cipher(self, flag: int) -> PacketCipher | None:
        return self.even if flag == KeyFlag.EVEN else self.odd if flag == KeyFlag.ODD else None

    def flags(self) -> KeyFlag:
        return KeyFlag((KeyFlag.EVEN if self.even else 0) | (KeyFlag.ODD if self.odd else 0))

    def to_message(self, passphrase: str) -> KeyMaterialMessage:
        """Wrap the present keys (both when both are present, even first) with the passphrase."""
        keys = b"".join(c.key for c in (self.even, self.odd) if c is not None)
        kek = derive_kek(passphrase, self.salt, self.key_len)
        return KeyMaterialMessage(
            key_flags=self.flags(),
            key_len=self.key_len,
            salt=self.salt,
            wrapped_keys=aes_key_wrap(kek, keys),
        )

    @classmethod
    def from_message(cls, msg: KeyMaterialMessage, passphrase: str) -> KeySet:
        """Unwrap a KM message. Raises BadSecret."""
        kek = derive_kek(passphrase, msg.salt, msg.key_len)
        try:
            keys = aes_key_unwrap(kek, msg.wrapped_keys)
        except InvalidUnwrap as exc:
            raise BadSecret("key material does not unwrap with our passphrase") from exc
        ks = cls(salt=msg.salt, key_len=msg.key_len)
        if msg.key_flags is KeyFlag.BOTH:
            ks.even = PacketCipher(keys[: msg.key_len], msg.salt)
            ks.odd = PacketCipher(keys[msg.key_len : 2 * msg.key_len], msg.salt)
        elif msg.key_flags is KeyFlag.EVEN:
            ks.even = PacketCipher(keys[: msg.key_len], msg.salt)
        else:
            ks.odd = PacketCipher(keys[: msg.key_len], msg.salt)
        return ks

    def update_from(self, other: KeySet) -> None:
        """A peer's key refresh: take every key it announced, keep the ones it did not mention."""
        self.salt = other.salt
        if other.even is not None:
            self.even = other.even
        if other.odd is not None:
            self.odd = other.odd


def new_keyset(rng: random.Random, key_len: int) -> KeySet:
    """A fresh salt and even key from the injected generator (seed it from os.urandom in adapters)."""
    salt = rng.randbytes(SALT_SIZE)
    return KeySet(salt=salt, key_len=key_len, even=PacketCipher(rng.randbytes(key_len), salt))


class SenderKeys:
    """Our sending keys and libsrt's refresh schedule (SRTO_KMREFRESHRATE / SRTO_KMPREANNOUNCE).

    ``refresh_rate - preannounce`` packets after a switch, a new key is made in the idle slot and
    announced with both keys; at ``refresh_rate`` packets data switches to it; ``preannounce`` packets
    later the old key is withdrawn (announced alone). :meth:`count_packet` returns True whenever a new
    KMREQ must go out.
    """

    __slots__ = ("_count", "_pending_retire", "_rng", "current", "keys", "preannounce", "refresh_rate")

    def __init__(self, keys: KeySet, rng: random.Random, *, refresh_rate: int, preannounce: int) -> None:
        self.keys = keys
        self.current = KeyFlag.EVEN if keys.even is not None else KeyFlag.ODD
        self._rng = rng
        self.refresh_rate = refresh_rate
        self.preannounce = preannounce
        self._count = 0
        self._pending_retire = False

    def cipher(self) -> PacketCipher:
        c = self.keys.cipher(self.current)
        assert c is not None
        return c

    def count_packet(self) -> bool:
        self._count += 1
        n = self._count
        if n == self.refresh_rate - self.preannounce:
            new = PacketCipher(self._rng.randbytes(self.keys.key_len), self.keys.salt)
            if self.current is KeyFlag.EVEN:
                self.keys.odd = new
            else:
                self.keys.even = new
            return True
        if n >= self.refresh_rate:
            self.current = KeyFlag.ODD if self.current is KeyFlag.EVEN else KeyFlag.EVEN
            self._count = 0
            self._pending_retire = True
            return False
        if self._pending_retire and n == self.preannounce:
            self._pending_retire = False
            if self.current is KeyFlag.EVEN:
                self.keys.odd = None
            else:
                self.keys.even = None
            return True
        return False
