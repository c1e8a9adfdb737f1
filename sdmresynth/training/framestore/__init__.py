"""The frame store: training frames on disk, built in parallel and resumably, streamed by training."""
