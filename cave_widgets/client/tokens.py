"""Token files at the paths caveclient reads, so one login serves both tools.

`~/.cloudvolume/secrets/<netloc>-cave-secret.json` (per server), then `cave-secret.json`
(default), then the legacy `chunkedgraph-secret.json`; each a JSON object holding the token
under a key ("token" unless told otherwise). Writes are atomic, the file 0600 in a 0700
folder, and other keys in the file are kept.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

DEFAULT_KEY = "token"
TOKEN_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def secrets_dir() -> Path:
    return Path(os.path.expanduser("~/.cloudvolume/secrets"))


def default_file() -> Path:
    return secrets_dir() / "cave-secret.json"


def legacy_file() -> Path:
    return secrets_dir() / "chunkedgraph-secret.json"


def server_file(netloc: str) -> Path:
    return secrets_dir() / f"{netloc}-cave-secret.json"


def read_key(path: Path, key: str = DEFAULT_KEY) -> str | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def resolve(server_netloc: str, token: str | None = None,
            token_file: str | os.PathLike | None = None,
            token_key: str | None = None) -> tuple[str | None, Path]:
    """The token to use and the file it came from (or would be saved to)."""
    key = token_key or DEFAULT_KEY
    if token_file is not None:
        path = Path(os.path.expanduser(token_file))
    elif server_file(server_netloc).exists():
        path = server_file(server_netloc)
    else:
        path = default_file()
    if token:
        return token, path
    found = read_key(path, key)
    if found is None and token_file is None:
        found = read_key(legacy_file(), key)
    return found, path


def write_key(path: Path, value: str, key: str = DEFAULT_KEY, overwrite: bool = True) -> bool:
    """Store `value` under `key`, keeping the file's other keys. Returns False when the same
    value was already there. Raises ValueError when the key holds another value and
    overwrite is False."""
    path = Path(path)
    data: dict = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            data = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            data = {}
    if data.get(key) == value:
        return False
    if key in data and not overwrite:
        raise ValueError(
            f"{path} already holds a different '{key}'; pass overwrite=True to replace it"
        )
    data[key] = value
    _ensure_private_folder(path.parent)
    _write_json(path, data)
    return True


def _ensure_private_folder(folder: Path) -> None:
    """Create `folder` as 0700 if missing, and keep the secrets folder 0700. Any other
    existing folder (a token_file the user chose, say in a project or /tmp) is left as it is:
    its permissions are not ours to change."""
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    elif folder.resolve() == secrets_dir().resolve():
        os.chmod(folder, 0o700)


def remove_key(path: Path, key: str = DEFAULT_KEY) -> bool:
    """Drop `key` from a token file, keeping its other keys (atomically, 0600). The file
    stays even when empty: while a per-server file exists, no other file is read for that
    server, so `{}` means "no token here" rather than falling back to the default file.
    Returns whether a key was removed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or key not in data:
        return False
    del data[key]
    _write_json(path, data)
    return True


def _write_json(path: Path, data: dict) -> None:
    """Replace `path` atomically with `data`, the new file created 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def server_map_file() -> Path:
    return secrets_dir() / "cave_datastack_to_server_map.json"


def read_server_map() -> dict:
    try:
        data = json.loads(server_map_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember_server(datastack: str, server_address: str) -> None:
    """Record which server a datastack lives on (caveclient's datastack→server cache)."""
    if read_server_map().get(datastack) == server_address:
        return
    try:
        write_key(server_map_file(), server_address, key=datastack)
    except OSError:
        pass  # a read-only home is fine: the cache is only a convenience
