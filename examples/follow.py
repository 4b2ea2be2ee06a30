# examples/follow.py: upload song.wav and print its analysis as it streams
import asyncio
import os

from audio_service.client import AudioServiceClient


async def main() -> None:
    url = os.environ.get("AUDIO_SERVICE_URL", "http://127.0.0.1:8000")
    async with AudioServiceClient(url) as client:
        job = await client.submit_file("song.wav")
        async for event in client.stream(job["job_id"]):
            if event["type"] == "progress":
                print(f"{event['progress']:3d}% {event['message']}")
            elif event["type"] == "chunk":
                segment = event["segment"]
                print(f"{event['timestamp']:5.1f} s  {segment['emotion']['primary']}")
            elif event["type"] == "complete":
                analysis = event["analysis"]
                print("tempo", analysis["tempo"], "key", analysis["key"], analysis["mode"])


asyncio.run(main())
