"""The frame store: built on worker processes, resumable, trusted only when complete, streamed by training."""

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sdmresynth.dsp.stft import StftConfig
from sdmresynth.errors import UserError
from sdmresynth.models import ModelConfig
from sdmresynth.models.checkpoint import load_checkpoint
from sdmresynth.training.config import TrainConfig
from sdmresynth.training.framestore.layout import StoredFrames
from sdmresynth.training.framestore.precision import rounded
from sdmresynth.training.framestore.store import list_stores
from sdmresynth.training.loop import train_model
from sdmresynth.training.sets import load_frames

from ..conftest import COMMAND, SPEECH, run


@pytest.fixture
def clips(tmp_path):
    """Six copies of the two test clips, and a file that is not audio."""
    folder = tmp_path / "clips"
    folder.mkdir()
    paths = []
    for i in range(3):
        for clip in (SPEECH, COMMAND):
            paths.append(folder / f"{i}-{clip.name}")
            shutil.copy(clip, paths[-1])
    paths.append(folder / "broken.wav")
    paths[-1].write_text("not audio")
    return paths


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr("sdmresynth.training.framestore.build.CHUNK_SECONDS", 2.0)  # several chunks from a few short files


def test_store_holds_exactly_the_in_memory_frames_and_is_reused(tmp_path, clips, small_chunks, monkeypatch):
    monkeypatch.setattr("sdmresynth.training.framestore.build.HEADERS_PER_JOB", 2)  # headers read in slices, on both processes too
    in_memory = load_frames(clips, StftConfig())
    cache = tmp_path / "cache"
    stored = load_frames(clips, StftConfig(), cache, workers=2)
    assert isinstance(stored.frames, StoredFrames) and len(stored.frames) == len(in_memory.frames)
    np.testing.assert_array_equal(stored.frames, in_memory.frames)
    rows = np.random.default_rng(0).permutation(len(in_memory.frames))[:300]
    np.testing.assert_array_equal(np.take(stored.frames, rows, axis=0), in_memory.frames[rows])  # a training batch
    np.testing.assert_array_equal(stored.frames[17:1017], in_memory.frames[17:1017])  # a validation block
    assert stored.files == in_memory.files and len(stored.skipped) == 1 and "broken.wav" in stored.skipped[0]
    (store,) = cache.glob("store-*")
    assert not list(cache.glob("building-*")) and not list(store.glob("chunk-*"))
    mapped = np.load(store / "frames.npy", mmap_mode="r")
    assert len(mapped) > len(in_memory.frames)  # the trimmed silence left gaps, which are never read
    built = (store / "frames.npy").stat().st_mtime_ns
    load_frames(clips, StftConfig(), cache)
    assert (store / "frames.npy").stat().st_mtime_ns == built  # reused, not rebuilt
    sent = pickle.dumps(stored.frames)  # to another process (a sweep's): the mapping's path, not the frames
    assert len(sent) < 4096 and np.array_equal(pickle.loads(sent)[:], in_memory.frames)


def test_builds_share_a_started_pool_and_start_no_other_process(tmp_path, clips, small_chunks, monkeypatch):
    import multiprocessing

    import sdmresynth.training.framestore.build as store_build

    with store_build.started_workers(2) as pool:
        workers = {process.pid for process in multiprocessing.active_children()}
        given = []
        submit = pool.executor.submit
        monkeypatch.setattr(pool.executor, "submit", lambda fn, *args: given.append(fn) or submit(fn, *args))
        first = load_frames(clips, StftConfig(), tmp_path / "one", workers=pool)
        second = load_frames(clips[:3], StftConfig(), tmp_path / "two", workers=pool)
        assert {process.pid for process in multiprocessing.active_children()} == workers and len(workers) == 1
    assert given.count(store_build._fill_chunk) >= 2  # the pool's worker built chunks of both
    np.testing.assert_array_equal(first.frames, load_frames(clips, StftConfig()).frames)
    np.testing.assert_array_equal(second.frames, load_frames(clips[:3], StftConfig()).frames)


def test_train_starts_store_workers_only_where_it_will_build_a_store(tmp_path, clips, monkeypatch):
    from sdmresynth.training.sets import TrainingFiles, store_workers
    from sdmresynth.workers import StartedPool

    files, cache, cfg = TrainingFiles(clips[:4], clips[4:6]), tmp_path / "cache", StftConfig()
    for cache_dir, workers in ((None, 2), (cache, 1)):  # no store, or no worker to spawn
        with store_workers(files, cfg, cache_dir, workers, "float32") as builders:
            assert builders == workers
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun: another process of the node starts them
    with store_workers(files, cfg, cache, 2, "float32") as builders:
        assert builders == 2
    monkeypatch.delenv("LOCAL_RANK")
    for paths in (files.train, files.val):  # the training store missing, then the validation store
        with store_workers(files, cfg, cache, 2, "float32") as builders:
            assert isinstance(builders, StartedPool) and builders.size == 1
            load_frames(paths, cfg, cache, workers=builders)
    with store_workers(files, cfg, cache, 2, "float32") as builders:  # both built
        assert builders == 2
    with store_workers(files, cfg, cache, 2, "bfloat16") as builders:  # another precision is another store
        assert isinstance(builders, StartedPool)


def test_a_bfloat16_store_holds_the_rounded_frames_in_half_the_bytes_beside_the_float32_one(tmp_path, clips,
                                                                                             small_chunks):
    cache = tmp_path / "cache"
    full = load_frames(clips, StftConfig(), cache, workers=2)
    half = load_frames(clips, StftConfig(), cache, workers=2, precision="bfloat16")
    np.testing.assert_array_equal(half.frames, load_frames(clips, StftConfig(), precision="bfloat16").frames)
    np.testing.assert_array_equal(half.frames, rounded(np.asarray(full.frames), "bfloat16"))
    rows = np.random.default_rng(0).permutation(len(full.frames))[:300]
    batch = np.take(half.frames, rows, axis=0)
    assert batch.dtype == half.frames.dtype == np.float32
    np.testing.assert_array_equal(batch, rounded(np.take(full.frames, rows, axis=0), "bfloat16"))
    stores = {store["precision"]: store for store in list_stores(cache)}
    assert set(stores) == {"float32", "bfloat16"} and stores["bfloat16"]["frames"] == len(half.frames)
    sizes = {precision: (Path(store["path"]) / "frames.npy").stat().st_size for precision, store in stores.items()}
    assert abs(sizes["bfloat16"] / sizes["float32"] - 0.5) < 0.01
    assert np.load(Path(stores["bfloat16"]["path"]) / "frames.npy", mmap_mode="r").dtype == np.uint16
    built = {p: (Path(s["path"]) / "frames.npy").stat().st_mtime_ns for p, s in stores.items()}
    for precision in ("float32", "bfloat16"):  # each found again, not rebuilt
        load_frames(clips, StftConfig(), cache, precision=precision)
    assert {p: (Path(s["path"]) / "frames.npy").stat().st_mtime_ns for p, s in stores.items()} == built


def test_the_calling_process_builds_chunks_beside_its_spawned_workers(tmp_path, clips, small_chunks, monkeypatch):
    """With two workers, this process fills chunks itself while the one spawned worker starts (and then alongside
    it); the spawned worker gets the first chunk after this process's own, so both do some of the work."""
    from concurrent.futures import ThreadPoolExecutor

    import sdmresynth.training.framestore.build as store_build

    here = []

    class InThisProcess(ThreadPoolExecutor):
        def submit(self, fn, *job):
            if fn is store_build._fill_chunk:  # not the syncer's jobs
                here.append(job[0])
            return super().submit(fn, *job)

    monkeypatch.setattr(store_build, "ThreadPoolExecutor", InThisProcess)
    stored = load_frames(clips, StftConfig(), tmp_path / "cache", workers=2)
    chunks = store_build._chunks(store_build._reservations(clips, StftConfig()), StftConfig())
    assert len(chunks) >= 3 and here[0] == [chunks[0].start, chunks[0].stop]
    assert 1 <= len(here) < len(chunks)  # the spawned worker did the others, chunk 1 first
    assert [chunks[1].start, chunks[1].stop] not in here
    np.testing.assert_array_equal(stored.frames, load_frames(clips, StftConfig()).frames)


def test_store_is_renewed_when_files_or_settings_change(tmp_path, clips):
    cache = tmp_path / "cache"
    load_frames(clips, StftConfig(), cache)
    load_frames(clips, StftConfig(hop=128), cache)
    shutil.copy(SPEECH, clips[1])  # the audio changed
    changed = load_frames(clips, StftConfig(), cache)
    assert len(list(cache.glob("store-*/manifest.json"))) == 3
    assert len(changed.frames) == len(load_frames(clips, StftConfig()).frames)


def test_an_interrupted_build_resumes_from_its_chunks_and_is_never_trusted_half_done(tmp_path, clips, small_chunks,
                                                                                       monkeypatch):
    import sdmresynth.training.framestore.build as store_build

    cache = tmp_path / "cache"
    calls = []
    original = store_build._fill_chunk

    def fill_then_fail(*job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(tuple(job[0]))  # the chunk's files
        return original(*job)

    monkeypatch.setattr(store_build, "_fill_chunk", fill_then_fail)
    with pytest.raises(KeyboardInterrupt):
        load_frames(clips, StftConfig(), cache, workers=1)
    assert not list(cache.glob("store-*")) and len(list(cache.glob("building-*/chunk-*.json"))) == 2
    monkeypatch.setattr(store_build, "_fill_chunk", lambda *job: calls.append(tuple(job[0])) or original(*job))
    resumed = load_frames(clips, StftConfig(), cache, workers=1)
    assert len(calls) > 2 and not set(calls[2:]) & set(calls[:2])  # only the missing chunks were built
    np.testing.assert_array_equal(resumed.frames, load_frames(clips, StftConfig()).frames)


@pytest.mark.parametrize("damage", ["a record garbled", "the frames file cut short"])
def test_a_resumed_build_redoes_what_was_damaged_while_it_waited(tmp_path, clips, small_chunks, monkeypatch, damage):
    import sdmresynth.training.framestore.build as store_build

    cache, original, calls = tmp_path / "cache", store_build._fill_chunk, []

    def fill_two_then_stop(*job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(tuple(job[0]))
        return original(*job)

    monkeypatch.setattr(store_build, "_fill_chunk", fill_two_then_stop)
    with pytest.raises(KeyboardInterrupt):
        load_frames(clips, StftConfig(), cache, workers=1)
    (building,) = cache.glob("building-*")
    if damage == "a record garbled":
        (building / "chunk-000000.json").write_text("{garbled")
    else:
        os.truncate(building / "frames.npy", 200)
    monkeypatch.setattr(store_build, "_fill_chunk", lambda *job: calls.append(tuple(job[0])) or original(*job))
    resumed = load_frames(clips, StftConfig(), cache, workers=1)
    redone = set(calls[2:]) & set(calls[:2])
    assert redone == ({calls[0]} if damage == "a record garbled" else set(calls[:2]))
    np.testing.assert_array_equal(resumed.frames, load_frames(clips, StftConfig()).frames)


def test_a_chunk_is_recorded_only_after_its_frames_are_synced(tmp_path, clips, small_chunks, monkeypatch):
    """The record is what a resumed build trusts: it is written only after a sync that follows the chunk's writes."""
    import os

    import sdmresynth.training.framestore.build as store_build

    events = []
    fill, sync, write = store_build._fill_chunk, os.fdatasync, store_build.write_atomically
    monkeypatch.setattr(store_build, "_fill_chunk", lambda *job: events.append("fill") or fill(*job))
    monkeypatch.setattr(os, "fdatasync", lambda fd: sync(fd) or events.append("sync"))
    monkeypatch.setattr(store_build, "write_atomically",
                        lambda path, how: events.append("record" if path.name.startswith("chunk-") else "manifest")
                        or write(path, how))
    load_frames(clips, StftConfig(), tmp_path / "cache", workers=1)
    fills = [i for i, event in enumerate(events) if event == "fill"]
    records = [i for i, event in enumerate(events) if event == "record"]  # in chunk order: one worker, one syncer
    assert len(fills) == len(records) >= 3 and events[-1] == "manifest"
    assert all("sync" in events[fill_at:record_at] for fill_at, record_at in zip(fills, records))


def test_after_a_failed_chunk_the_chunks_in_progress_finish_and_are_recorded_and_no_more_start():
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import sdmresynth.training.framestore.build as store_build

    both_started = threading.Barrier(2)

    def fill(i):
        both_started.wait(timeout=10)
        if i == 0:
            raise OSError("No space left on device")
        time.sleep(0.2)  # still running when chunk 0 fails
        return {"chunk": i}

    recorded = []
    with pytest.raises(OSError), ThreadPoolExecutor(1) as worker:  # a thread for the worker process
        store_build._share([0, 1, 2, 3], lambda i: (fill, i), lambda i, info: recorded.append((i, info)), worker, 1)
    assert recorded == [(1, {"chunk": 1})]


def test_headers_are_read_in_slices_by_this_process_and_the_workers_in_list_order(clips, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import sdmresynth.training.framestore.build as store_build

    paths = clips * 3
    expected = store_build._reservations(paths, StftConfig())
    assert len(set(expected)) == 3 and expected[-1] == 0  # two clip lengths and the broken file
    monkeypatch.setattr(store_build, "HEADERS_PER_JOB", 4)
    with ThreadPoolExecutor(2) as pool:  # threads for the worker processes
        assert store_build._reservations_on(paths, StftConfig(), pool, 2) == expected


def test_a_store_that_cannot_fit_is_refused_before_any_work(tmp_path, clips, monkeypatch):
    import sdmresynth.training.framestore.build as store_build

    usage = shutil.disk_usage(tmp_path)._replace(free=5000)
    monkeypatch.setattr(store_build.shutil, "disk_usage", lambda path: usage)
    monkeypatch.setattr(store_build, "_fill_chunk", lambda *job: pytest.fail("a chunk was started"))
    with pytest.raises(UserError, match=r"it needs up to 1 MB and 0 MB is free there"):
        load_frames(clips, StftConfig(), tmp_path / "cache")


def test_a_disk_that_fills_up_mid_build_stops_it_with_one_line_and_the_build_resumes(tmp_path, clips, small_chunks,
                                                                                     monkeypatch):
    import errno

    import sdmresynth.training.framestore.build as store_build

    fill, filled = store_build._fill_chunk, []

    def fill_until_the_disk_is_full(*job):
        if len(filled) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        filled.append(job[0])
        return fill(*job)

    monkeypatch.setattr(store_build, "_fill_chunk", fill_until_the_disk_is_full)
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="No space left on device; run again once that is fixed"):
        load_frames(clips, StftConfig(), cache, workers=1)
    assert len(list(cache.glob("building-*/chunk-*.json"))) == 2
    monkeypatch.setattr(store_build, "_fill_chunk", fill)
    np.testing.assert_array_equal(load_frames(clips, StftConfig(), cache, workers=1).frames,
                                  load_frames(clips, StftConfig()).frames)


@pytest.mark.parametrize("damage", ["frames cut short", "frames deleted", "manifest garbled", "manifest of others"])
def test_a_damaged_store_is_listed_as_such_and_rebuilt_not_trusted(tmp_path, clips, damage):
    cache = tmp_path / "cache"
    in_memory = load_frames(clips, StftConfig()).frames
    load_frames(clips, StftConfig(), cache)
    (store,) = cache.glob("store-*")
    frames, manifest = store / "frames.npy", store / "manifest.json"
    if damage == "frames cut short":
        os.truncate(frames, frames.stat().st_size // 2)
    elif damage == "frames deleted":
        frames.unlink()
    elif damage == "manifest garbled":
        manifest.write_text("{garbled")
    else:
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "rows": [10**9]}))
    assert json.loads(run("cache", "--cache-dir", cache, "--json").output)["stores"][0]["state"] == "damaged"
    np.testing.assert_array_equal(load_frames(clips, StftConfig(), cache).frames, in_memory)
    assert json.loads(run("cache", "--cache-dir", cache, "--json").output)["stores"][0]["state"] == "complete"


def _trained_from_memory_and_from_the_store(tmp_path, clips, device: str,
                                             precision: str = "float32") -> tuple[dict, dict]:
    """The weights of two short runs on `device`, one from frames in memory, one from the frame store."""
    config, protocol = ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, input_transform="log",
                                   standardise_input=True), TrainConfig(max_epochs=2, lr=1e-3)
    memory = (load_frames(clips[:4], StftConfig(), precision=precision),
              load_frames(clips[4:], StftConfig(), precision=precision))
    stored = (load_frames(clips[:4], StftConfig(), tmp_path / "cache", precision=precision),
              load_frames(clips[4:], StftConfig(), tmp_path / "cache", precision=precision))
    for name, sets in (("memory", memory), ("store", stored)):
        train_model(config, protocol, sets[0].frames, sets[1].frames, tmp_path / f"{name}.pt", torch.device(device))
    return load_checkpoint(tmp_path / "memory.pt").state_dict, load_checkpoint(tmp_path / "store.pt").state_dict


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_training_from_the_store_equals_training_from_memory(tmp_path, clips, precision):
    a, b = _trained_from_memory_and_from_the_store(tmp_path, clips, "cpu", precision)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_build_only_makes_the_stores_that_training_then_uses_and_trains_nothing(tmp_path, clips):
    lists = {}
    for name, paths in (("train", clips[:4]), ("val", clips[4:6])):
        lists[name] = tmp_path / f"{name}.txt"
        lists[name].write_text("\n".join(str(path) for path in paths))
    cache, out = tmp_path / "cache", tmp_path / "m.pt"
    command = ["train", "--train", lists["train"], "--val", lists["val"], "--cache-dir", cache, "--out", out,
               "-L", "8", "--hidden-dim", "16", "--max-epochs", "1", "--workers", "2"]
    built = run(*command, "--build-only")
    assert built.exit_code == 0 and "frame stores are ready" in built.output and not out.exists()
    assert sorted((store["state"], store["files"]) for store in list_stores(cache)) == [("complete", 2),
                                                                                       ("complete", 4)]

    def manifests() -> dict[str, tuple[int, int]]:
        return {path.parent.name: (path.stat().st_ino, path.stat().st_mtime_ns)
                for path in cache.glob("*/manifest.json")}

    made = manifests()
    assert run(*command).exit_code == 0 and out.exists()
    assert manifests() == made  # trained from those stores, not built again


def test_build_only_needs_the_store_and_training_needs_out(tmp_path):
    no_store = run("train", "--data", tmp_path, "--build-only", "--no-cache")
    assert no_store.exit_code == 2 and "--no-cache turns off" in no_store.output
    no_out = run("train", "--data", tmp_path)
    assert no_out.exit_code == 2 and "Missing option '--out'" in no_out.output


def test_cache_command_lists_and_clears(tmp_path, clips):
    cache = tmp_path / "cache"
    load_frames(clips, StftConfig(), cache)
    listing = json.loads(run("cache", "--cache-dir", cache, "--json").output)
    (store,) = listing["stores"]
    assert store["state"] == "complete" and store["files"] == 6 and store["bytes"] > 0
    assert "1 store(s)" in run("cache", "--cache-dir", cache).output
    theirs = [cache / "store-of-photos", cache / "frames-mine.npy", cache / "notes.txt"]  # a shared folder's other files
    theirs[0].mkdir()
    for path in theirs[1:]:
        path.write_text("not ours")
    assert "freed" in run("cache", "--cache-dir", cache, "--clear").output
    assert json.loads(run("cache", "--cache-dir", cache, "--json").output)["stores"] == []
    assert sorted(cache.iterdir()) == sorted(theirs)  # the store and its lock are gone, nothing else


def test_prefetching_yields_the_same_batches_in_order():
    from sdmresynth.training.minibatches import _prefetched, batches

    frames = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    order = np.random.default_rng(0).permutation(40)
    plain = list(batches(frames, order, 8, 1, 2, torch.device("cpu")))  # rank 1 of 2: rows 1, 3, 5, 7 of each batch
    np.testing.assert_array_equal(plain[0].numpy(), frames[order[[1, 3, 5, 7]]])
    ahead = list(_prefetched(iter(torch.from_numpy(frames[order[i : i + 8][1::2]]) for i in range(0, 40, 8)),
                             torch.device("cpu")))
    assert len(ahead) == len(plain) == 5 and all(torch.equal(a, b) for a, b in zip(ahead, plain))


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@needs_cuda
def test_batches_reach_the_gpu_pinned_and_in_order(tmp_path, clips):
    """From the memory-mapped store, through pinned memory and the prefetch thread, onto the GPU: the same rows
    in the same order as on the CPU."""
    from sdmresynth.training.minibatches import batches

    stored = load_frames(clips, StftConfig(), tmp_path / "cache").frames
    order = np.random.default_rng(0).permutation(len(stored))
    cpu = list(batches(stored, order, 128, 0, 1, torch.device("cpu")))
    gpu = list(batches(stored, order, 128, 0, 1, torch.device("cuda")))
    assert len(gpu) == len(cpu) and all(g.is_cuda for g in gpu)
    assert all(torch.equal(g.cpu(), c) for g, c in zip(gpu, cpu))


@needs_cuda
def test_training_on_the_gpu_from_the_store_equals_training_from_memory(tmp_path, clips):
    a, b = _trained_from_memory_and_from_the_store(tmp_path, clips, "cuda")
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_a_script_without_a_main_guard_gets_an_error_and_not_a_hang(tmp_path):
    """Spawned store workers re-run the calling script; without `if __name__ == "__main__":` they would wait for the
    store their parent is building. Now each refuses at once, and the parent says what to do."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(
        "from pathlib import Path\n"
        "from sdmresynth.training.sets import load_frames\n"
        "from sdmresynth.dsp.stft import StftConfig\n"
        f"load_frames([Path({str(SPEECH)!r})] * 300, StftConfig(), Path({str(tmp_path / 'cache')!r}), workers=2)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and '__name__ == "__main__"' in done.stderr
    assert "run again to resume the build" in done.stderr
