"""Music analysis: incremental decoding, per-second segments and song-level results.

Importing this package is cheap (numpy, scipy.fft, soundfile). Nothing on the path of
``analyze_file`` imports librosa, numba or scipy.signal: the filter banks and the K-weighting
filters are plain numpy (the tests compare them with librosa and scipy).
"""

from audio_service.analysis.decode import open_audio
from audio_service.analysis.pipeline import analyze_file, warm_up
from audio_service.analysis.source import AudioSource
from audio_service.analysis.stream import StreamingAnalyzer

__all__ = ["AudioSource", "StreamingAnalyzer", "analyze_file", "open_audio", "warm_up"]
