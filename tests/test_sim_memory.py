"""The simulator's memory stays bounded over a long sweep: images behind temporary URLs and
batch result files are kept on disk, not in memory, for as long as they must be served.

On 0.1 every image behind a URL stayed in memory for the URL's hour (a simulator that had
served a few thousand images held 1.2 GB). Measured here with tracemalloc: what the server
still holds after serving, against the bytes it served."""

from __future__ import annotations

import io
import json
import time
import tracemalloc

import httpx
from openai import OpenAI

from imgkit.simulator import serve


def _held_after(action) -> tuple[int, int]:
    """(bytes still allocated by the simulator's code after ``action`` and a collection, bytes
    ``action`` served).

    Only allocations made from the simulator's modules count: a thread an earlier test left
    running in this process may allocate during the window too, and is not the server holding
    images.
    """
    import gc

    gc.collect()
    tracemalloc.start(25)
    try:
        before = tracemalloc.take_snapshot()
        served = action()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    mine = [tracemalloc.Filter(True, "*/imgkit/simulator/*", all_frames=True)]
    grown = after.filter_traces(mine).compare_to(before.filter_traces(mine), "filename")
    return sum(stat.size_diff for stat in grown), served


def test_images_behind_urls_are_kept_on_disk_not_in_memory():
    with serve(url_ttl=3600) as sim:
        client = OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0)

        def sweep(count: int = 24) -> int:
            served = 0
            for index in range(count):
                answer = client.images.generate(
                    model="dall-e-2", prompt=f"a kite number {index}", size="512x512"
                )
                served += len(httpx.get(answer.data[0].url).content)
            return served

        sweep(4)  # what a first request loads and keeps (clients, caches) is not the images
        held, served = _held_after(sweep)
        stats = sim.stats()
    assert served > 1_000_000
    assert held < served / 10, f"the server holds {held} bytes after serving {served}"
    assert stats["url_images"] == 28 and stats["url_image_bytes_on_disk"] >= served


def test_batch_result_files_are_kept_on_disk_not_in_memory():
    with serve(batch_duration=0.1) as sim:
        client = OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0)
        lines = [
            {
                "custom_id": str(i),
                "method": "POST",
                "url": "/v1/images/generations",
                "body": {"model": "gpt-image-1", "prompt": f"a kite {i}", "quality": "low"},
            }
            for i in range(12)
        ]

        def batch(lines=lines) -> int:
            data = "\n".join(json.dumps(line) for line in lines).encode()
            uploaded = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
            job = client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/images/generations",
                completion_window="24h",
            )
            while job.status != "completed":
                time.sleep(0.05)
                job = client.batches.retrieve(job.id)
            return client.files.retrieve(job.output_file_id).bytes

        batch(lines[:2])  # what a first batch loads and keeps is not its results
        held, served = _held_after(batch)
    assert served > 1_000_000
    assert held < served / 10, f"the server holds {held} bytes after a {served}-byte result"


def test_the_files_go_with_the_server():
    with serve() as sim:
        client = OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0)
        url = client.images.generate(model="dall-e-2", prompt="a kite", size="256x256").data[0].url
        assert httpx.get(url).status_code == 200
        folder = sim.state.blobs.folder
        assert any(folder.iterdir())
    assert not folder.exists()
