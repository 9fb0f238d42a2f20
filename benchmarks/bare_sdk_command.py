"""The anchor of bench_runner's section 6: the drill's generations sent by a bare SDK script.

``python benchmarks/bare_sdk_command.py URL M C`` sends M image generations to the simulator at
URL, at most C at a time, with openai's async client and nothing else: no plan, no ledger, no
images kept. Run as a fresh process, it is what any Python program that imports the SDK pays
before and around the same requests (the interpreter, openai's import, the client), so that
``imgkit drill`` as a command can be judged against it as well as against the ideal.
"""

from __future__ import annotations

import asyncio
import sys
import time

import openai

#: The request every section of bench_runner sends (it imports these).
MODEL = "dall-e-2"
PARAMS = {"size": "256x256", "response_format": "b64_json"}
PROMPT = "A lone astronaut on a red Martian cliff"


async def send(url: str, m: int, c: int) -> float:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sim", max_retries=0)
    limit = asyncio.Semaphore(c)
    first: list[float] = []

    async def one() -> None:
        async with limit:
            if not first:
                first.append(time.time())
            answer = await client.images.generate(model=MODEL, prompt=PROMPT, **PARAMS)
            assert answer.data[0].b64_json

    await asyncio.gather(*(one() for _ in range(m)))
    await client.close()
    return first[0]


if __name__ == "__main__":
    url, m, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(asyncio.run(send(url, m, c)))  # when the first request was about to leave
