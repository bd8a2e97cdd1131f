"""Speech recognition (spoken words and connected digit strings): ``rnnkit speech train|transcribe|demo``."""
from ..framework import App, Command
from .config import DemoOptions, SpeechConfig, TranscribeOptions
from .recipe import Transcript, demo, demo_command, load_run, train, transcribe, transcribe_command

__all__ = ["SpeechConfig", "TranscribeOptions", "DemoOptions", "Transcript", "train", "transcribe", "demo",
           "load_run", "APP"]

#: the ``rnnkit speech`` command
APP = App("speech", "speech recognition: spoken words and digit strings from audio files", [
    Command("train", "train a recogniser on labelled recordings (FSDD or a folder)", SpeechConfig, train,
            quiet={"verbose": 0}),
    Command("transcribe", "transcribe audio files with a trained run", TranscribeOptions, transcribe_command),
    Command("demo", "draw held-out utterances with the recognised digits where CTC placed them", DemoOptions,
            demo_command),
])
