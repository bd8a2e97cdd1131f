"""Every bad input of every ``rnnkit`` command, in one table: the line it gets, exit code 2, and nothing written.

Each row is ``(argv, words)``: ``rnnkit ARGV`` must exit with code 2, print exactly
one line on standard error, ``rnnkit: error: ...`` holding ``words`` (no
traceback), and leave every file and folder as it was (a rejected ``train``
makes no run folder, a rejected ``predict`` writes no output).  The rows run
in-process through :func:`rnnkit.cli.main`; a few run as real processes to prove
the exit code a shell sees.

Paths in braces name the files of the ``place`` fixture: missing, an empty
folder, text, binary and Latin-1 files, tiny CSV/TSV files, and run folders of
each app that are wrong or damaged (another app's, no ``config.json``, broken
JSON, settings that break their rules, a garbage or missing model, a damaged
``classes.json``/``speech.json``/``held_out.npz``).  No row trains or loads a
dataset: the model files are tiny Sequentials saved here, and training itself is
made to fail loudly should a row ever get that far.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit import cli
from rnnkit.data import Vocab
from rnnkit.layers import LSTM, Dense, Embedding
from rnnkit.models import Model, Seq2Seq, Sequential

APPS = ("textgen", "classify", "forecast", "translate", "speech")

# (argv, words of the message), per command; argv is formatted with the paths of ``place``
ROWS: dict[str, list[tuple[list[str], str]]] = {
    "rnnkit": [
        ([], "the following arguments are required: command (see `rnnkit --help`)"),
        (["nothing"], "argument command: invalid choice: 'nothing'"),
        (["--nope"], "the following arguments are required: command"),
        (["textgen"], "the following arguments are required: action (see `rnnkit textgen --help`)"),
        (["textgen", "nope"], "argument action: invalid choice: 'nope' (choose from 'train', 'sample')"),
        (["lm", "sample"], "invalid choice: 'sample' (choose from 'train')"),
        (["classify", "--run", "{run_classify}"], "argument action: invalid choice: '{run_classify}'"),
    ],
    "textgen train": [
        (["--nope"], "unrecognized arguments: --nope (see `rnnkit textgen train --help`)"),
        (["--seq", "8"], "unrecognized arguments: --seq 8"),  # abbreviations are refused, not guessed
        (["--seq-len"], "argument --seq-len: expected one argument"),
        (["--seq-len", "x"], "--seq-len must be a whole number, got 'x'"),
        (["--seq-len", "1.5"], "--seq-len must be a whole number, got '1.5'"),
        (["--seq-len", "0"], "--seq-len must be a whole number >= 1, got 0"),
        (["--layers", "-1"], "--layers must be a whole number >= 1, got -1"),
        (["--lr", "-1"], "--lr must be positive, got -1.0"),
        (["--lr", "nan"], "--lr must be positive, got nan"),
        (["--lr", "inf"], "--lr must be positive, got inf"),
        (["--dropout", "1"], "--dropout must be a number in [0, 1), got 1.0"),
        (["--warmup", "-0.1"], "--warmup must be a number in [0, 1), got -0.1"),
        (["--cell", "transformer"], "--cell must be one of lstm, gru, rnn, mingru, minlstm, got 'transformer'"),
        (["--level", "byte"], "--level must be one of char, word, got 'byte'"),
        (["--optimizer", "adagrad"], "--optimizer must be one of adam, sgd, got 'adagrad'"),
        (["--epochs", "2", "--time-budget", "1m"], "argument --time-budget: not allowed with argument --epochs"),
        (["--time-budget", "soon"], "--time-budget 'soon' is not a duration; write e.g. 90s, 10m or 1.5h"),
        (["--time-budget", "0s"], "--time-budget must be positive, got '0s'"),
        (["--nproc", "0"], "--nproc must be a whole number from 1 to 1024, got 0"),
        (["--nproc", "3", "--batch-size", "4"], "--batch-size 4 is the global batch and must divide among the 3"),
        (["--diagnostics", "0"], "--diagnostics must be a whole number >= 1, got 0"),
        (["--data", "{missing}", "--out", "{out}"], "{missing}: no such file; give a dataset name"),
        (["--data", "{folder}", "--out", "{out}"], "{folder} is a folder; give one UTF-8 text file"),
        (["--data", "{binary}", "--out", "{out}"], "looks binary (it holds NUL bytes)"),
        (["--data", "{latin}", "--out", "{out}"], "is not UTF-8 text (bad byte at offset 0); convert it to UTF-8"),
        (["--data", "{empty}", "--out", "{out}"], "is empty; give a text file"),
        (["--data", "{short}", "--out", "{out}"], "only 5 chars; give at least 20"),
        (["--data", "imdb", "--out", "{out}"], "--data imdb is not a text corpus"),
        (["--data", "ptb", "--out", "{out}"], "--data ptb is a word-level corpus; pass --level word"),
        (["--data", "{corpus}", "--tie", "--units", "8", "--embed-dim", "9", "--out", "{out}"],
         "--tie needs --embed-dim equal to --units (the output layer reuses the embedding), got 9 and 8"),
        (["--data", "{corpus}", "--batch-size", "5000", "--out", "{out}"], "cannot fill --batch-size 5000 rows"),
        (["--data", "{corpus}", "--out", "{run_textgen}"], "already holds a run; pass --resume to continue it"),
        (["--resume"], "--out is needed with --resume: the run to continue"),
        (["--resume", "--out", "{missing}"], "--resume: {missing} holds no run (no config.json)"),
        (["--resume", "--out", "{run_classify}"], "is a run of `rnnkit classify`, not of `rnnkit textgen`"),
        (["--resume", "--out", "{bad_settings_textgen}"], "config.json does not hold valid settings (`data` must be text, got 5)"),
        (["--data", "a\nb", "--out", "{out}"], "--data a\\nb: no such file"),  # a newline is escaped: one line
    ],
    "textgen sample": [
        ([], "--run is needed: a run folder written by `rnnkit textgen train`"),
        (["--run", "{missing}"], "--run {missing}: no such folder"),
        (["--run", "{folder}"], "not a run folder (no config.json)"),
        (["--run", "{text}"], "--run {text}: a file, not a run folder"),
        (["--run", "{run_classify}"], "is a run of `rnnkit classify`, not of `rnnkit textgen`; pass a textgen run"),
        (["--run", "{run_textgen}"], "does not start with a safetensors header"),
        (["--run", "{no_model_textgen}"], "has no model.safetensors; its training did not finish an epoch"),
        (["--run", "{broken_json}"], "config.json is not readable JSON"),
        (["--run", "{list_json}"], "config.json holds list, expected a JSON object"),
        (["--run", "{no_app}"], "its config.json is not an rnnkit run's (no app name and settings)"),
        (["--run", "{bad_settings_textgen}"], "config.json does not hold valid settings (`data` must be text, got 5); restore"),
        (["--run", "{run_textgen}", "--top-p", "0"], "--top-p must be a number in (0, 1], got 0.0"),
        (["--run", "{run_textgen}", "--top-p", "1.5"], "--top-p must be a number in (0, 1], got 1.5"),
        (["--run", "{run_textgen}", "--temperature", "0"], "--temperature must be positive, got 0.0"),
        (["--run", "{run_textgen}", "--top-k", "-1"], "--top-k must be a whole number >= 0, got -1"),
        (["--run", "{run_textgen}", "--length", "-1"], "--length must be a whole number >= 0, got -1"),
        (["--run", "{run_textgen}", "--seed", "x"], "--seed must be a whole number, got 'x'"),
        (["--run", "{run_textgen}", "--greedy", "--beam", "3"], "give --greedy or --beam 3, not both"),
        (["--run", "{run_textgen}", "--prompt"], "argument --prompt: expected one argument"),
    ],
    "lm train": [
        (["--level", "char"], "--data ptb is a word-level corpus; pass --level word"),
        (["--optimizer", "adagrad"], "--optimizer must be one of adam, sgd"),
        (["--schedule", "linear"], "--schedule must be one of cosine, step, constant, got 'linear'"),
        (["--lr-decay", "0"], "--lr-decay must be positive, got 0.0"),
        (["--decay-after", "-1"], "--decay-after must be a whole number >= 0, got -1"),
        (["--clipnorm", "0"], "--clipnorm must be positive, got 0.0"),
        (["--init-scale", "0"], "--init-scale must be positive, got 0.0"),
        (["--eval-batch-size", "0"], "--eval-batch-size must be a whole number >= 1, got 0"),
        (["--sample-length", "-1"], "--sample-length must be a whole number >= 0, got -1"),
        (["--epochs", "0"], "--epochs must be a whole number >= 1, got 0"),
    ],
    "classify train": [
        (["--data", "{missing}", "--out", "{out}"], "--data {missing}: no such file or folder (registered datasets"),
        (["--data", "{folder}", "--out", "{out}"], "a folder of labelled texts needs one sub-folder per label"),
        (["--data", "{binary}", "--out", "{out}"], "looks like a binary file (it holds NUL bytes)"),
        (["--data", "{latin_csv}", "--out", "{out}"], "line 2 is not valid UTF-8"),
        (["--data", "{empty}", "--out", "{out}"], "the file is empty"),
        (["--data", "{text}", "--out", "{out}"], "no text column (looked for text, sentence"),
        (["--data", "{texts_only}", "--out", "{out}"], "no label column (looked for label, sentiment"),
        (["--data", "{labelled}", "--text-column", "body", "--out", "{out}"],
         "no text column 'body'; its columns are 'text', 'label'; choose one with --text-column"),
        (["--data", "{labelled}", "--label-column", "stars", "--out", "{out}"], "no label column 'stars'"),
        (["--data", "{one_class}", "--out", "{out}"], "the label column holds only one class ('pos')"),
        (["--data", "{labelled}", "--out", "{out}"], "too few texts (2) to hold out a validation split"),
        (["--data", "{labelled}", "--test-data", "{missing}", "--out", "{out}"],
         "--test-data {missing}: no such file or folder"),
        (["--data", "sst2", "--test-data", "{labelled}"], "--test-data is for a file given to --data; sst2 has its own"),
        (["--data", "imdb", "--text-column", "review"], "--text-column is for a file given to --data; imdb has"),
        (["--label-column", "y"], "--label-column is for a file given to --data; imdb has its own"),
        (["--vocab", "4"], "--vocab must be a whole number >= 5, got 4"),
        (["--valid-fraction", "1"], "--valid-fraction must be a number in (0, 1), got 1.0"),
        (["--test-fraction", "0"], "--test-fraction must be a number in (0, 1), got 0.0"),
        (["--model", "transformer"], "--model must be one of bilstm, lstm, gru, mingru, cnn-lstm, bag"),
        (["--level", "byte"], "--level must be one of word, char, got 'byte'"),
        (["--max-len", "0"], "--max-len must be a whole number >= 1, got 0"),
        (["--min-freq", "0"], "--min-freq must be a whole number >= 1, got 0"),
        (["--patience", "0"], "--patience must be a whole number >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be a whole number >= 1, got 0"),
        (["--time-budget", "-1m"], "argument --time-budget: expected one argument"),  # -1m reads as an option
        (["--time-budget=-1m"], "--time-budget must be positive, got '-1m'"),
        (["--resume"], "unrecognized arguments: --resume (see `rnnkit classify train --help`)"),
        (["--data", "{labelled}", "--out", "{run_classify}"], "already holds a run"),
    ],
    "classify predict": [
        ([], "--run is needed: a run folder written by `rnnkit classify train`"),
        (["--run", "{missing}", "good"], "--run {missing}: no such folder"),
        (["--run", "{folder}", "good"], "--run {folder}: not a run folder (no config.json)"),
        (["--run", "{run_textgen}", "good"], "is a run of `rnnkit textgen`, not of `rnnkit classify`"),
        (["--run", "{run_classify}", "good"], "does not start with a safetensors header"),
        (["--run", "{no_model_classify}", "good"], "has no model.safetensors"),
        (["--run", "{damaged_classes}", "good"], 'classes.json: "classes" should be a list, got None; the file is damaged'),
        (["--run", "{bad_settings_classify}", "good"], "config.json does not hold valid settings"),
        (["--run", "{run_classify}"], "nothing to classify: give texts"),
        (["--run", "{run_classify}", "good", "  "], "text 2 is empty; give it some words"),
        (["--run", "{run_classify}", "--file", "{labelled}", "good"], "give texts on the command line or --file, not both"),
        (["--run", "{run_classify}", "--file", "{missing}"], "{missing}: no such file or folder"),
        (["--run", "{run_classify}", "--file", "{folder}"], "not a file; give a CSV, TSV, JSONL or text file"),
        (["--run", "{run_classify}", "--file", "{binary}"], "looks like a binary file"),
        (["--run", "{run_classify}", "--file", "{gaps}"], "line 2 is empty; remove it (one text per line)"),
        (["--run", "{run_classify}", "good", "--out", "{existing}"], "--out {existing} already exists; choose another"),
        (["--run", "{run_classify}", "--text", "good"], "unrecognized arguments: --text"),
    ],
    "classify evaluate": [
        ([], "--run is needed: a run folder written by `rnnkit classify train`"),
        (["--run", "{run_classify}"], "--data is needed: the labelled file or folder to score"),
        (["--data", "{labelled}"], "--run is needed"),
        (["--run", "{run_forecast}", "--data", "{labelled}"], "is a run of `rnnkit forecast`, not of `rnnkit classify`"),
        (["--run", "{run_classify}", "--data", "{labelled}"], "does not start with a safetensors header"),
        (["--run", "{damaged_classes}", "--data", "{labelled}"], 'classes.json: "classes" should be a list'),
    ],
    "forecast train": [
        (["--data", "{missing}", "--out", "{out}"], "--data {missing}: no such file; give a dataset name"),
        (["--data", "{folder}", "--out", "{out}"], "--data {folder} is a folder; give one CSV file"),
        (["--data", "{text}", "--out", "{out}"], "has no date column 'date'"),
        (["--data", "{series}", "--date-column", "when", "--out", "{out}"], "has no date column 'when'"),
        (["--data", "{series}", "--target", "price", "--out", "{out}"], "has no target column 'price'; its columns are date, sales; name the right one with --target"),
        (["--data", "{series}", "--out", "{out}"], "has 30 rows, but a window needs lookback + horizon = 60 + 1"),
        (["--data", "{series}", "--lookback", "5", "--val-size", "1", "--horizon", "2", "--out", "{out}"],
         "--val-size 1 is shorter than --horizon 2: no validation window fits"),
        (["--data", "imdb", "--out", "{out}"], "--data imdb is a text dataset, not a dated series"),
        (["--test-size", "3", "--test-fraction", "0.1"], "argument --test-fraction: not allowed with argument --test-size"),
        (["--log", "--no-log", "--epochs", "0"], "--epochs must be a whole number >= 1, got 0"),
        (["--units", "8,x"], "--units must be whole numbers separated by commas, e.g. 80,100; got '8,x'"),
        (["--units", "0"], "--units must be one or more whole numbers >= 1 (one per layer)"),
        (["--lookback", "0"], "--lookback must be a whole number >= 1, got 0"),
        (["--horizon", "0"], "--horizon must be a whole number >= 1, got 0"),
        (["--fill", "zero"], "--fill must be one of interpolate, ffill, got 'zero'"),
        (["--model", "transformer"], "--model must be one of lstm, gru, rnn, mingru"),
        (["--transform", "log"], "--transform must be one of none, diff, seasonal-diff, got 'log'"),
        (["--scaler", "robust"], "--scaler must be one of standard, minmax, got 'robust'"),
        (["--season", "0"], "--season must be a whole number >= 1, got 0"),
        (["--ma-window", "0"], "--ma-window must be a whole number >= 1, got 0"),
        (["--val-size", "-1"], "--val-size must be a whole number >= 0, got -1"),
        (["--test-fraction", "1"], "--test-fraction must be a number in (0, 1), got 1.0"),
        (["--dropout", "-0.5"], "--dropout must be a number in [0, 1), got -0.5"),
        (["--data", "{series}", "--out", "{run_forecast}"], "already holds a run"),
    ],
    "forecast predict": [
        ([], "--run is needed: a run folder written by `rnnkit forecast train`"),
        (["--run", "{missing}"], "--run {missing}: no such folder"),
        (["--run", "{run_textgen}"], "is a run of `rnnkit textgen`, not of `rnnkit forecast`"),
        (["--run", "{run_forecast}"], "does not start with a safetensors header"),
        (["--run", "{bad_settings_forecast}"], "config.json does not hold valid settings"),
        (["--run", "{run_forecast}", "--steps", "0"], "--steps must be a whole number >= 1, got 0"),
        (["--run", "{run_forecast}", "--steps", "x"], "--steps must be a whole number, got 'x'"),
    ],
    "translate train": [
        (["--data", "{missing}", "--out", "{out}"], "--data {missing}: no such file (registered pairs:"),
        (["--data", "{folder}", "--out", "{out}"], "--data {folder} is a folder; give one TSV file"),
        (["--data", "imdb", "--out", "{out}"], "--data imdb: not a dataset of sentence pairs"),
        (["--data", "{text}", "--out", "{out}"], "line 1 has no TAB; each line must be 'source<TAB>target'"),
        (["--data", "{latin}", "--out", "{out}"], "line 1 is not valid UTF-8"),
        (["--data", "{pairs}", "--out", "{out}"], "2 pairs are too few to hold out validation and test sentences"),
        (["--source", "de"], "--source de: tatoeba-fra-eng holds en and fr; choose one of them"),
        (["--attention", "luong"], "--attention must be one of additive, dot, none, got 'luong'"),
        (["--cell", "rnn"], "--cell must be one of gru, lstm, got 'rnn'"),
        (["--monitor", "accuracy"], "--monitor must be one of bleu, loss, got 'accuracy'"),
        (["--source-level", "byte"], "--source-level must be one of word, char, got 'byte'"),
        (["--beam", "0"], "--beam must be a whole number >= 1, got 0"),
        (["--alpha", "-1"], "--alpha must be a number in [0, inf), got -1.0"),
        (["--max-words", "0"], "--max-words must be a whole number >= 1, got 0"),
        (["--split-seed", "x"], "--split-seed must be a whole number, got 'x'"),
    ],
    "translate run": [
        ([], "--run is needed: a run folder written by `rnnkit translate train`"),
        (["--run", "{missing}", "hi"], "--run {missing}: no such folder"),
        (["--run", "{run_textgen}", "hi"], "is a run of `rnnkit textgen`, not of `rnnkit translate`"),
        (["--run", "{run_translate}", "hi"], "does not start with a safetensors header"),
        (["--run", "{run_translate}"], "nothing to translate: give sentences"),
        (["--run", "{run_translate}", "  "], "sentence 1 is empty; give it some words"),
        (["--run", "{run_translate}", "--file", "{text}", "hi"], "give sentences on the command line or --file, not both"),
        (["--run", "{run_translate}", "--file", "{missing}"], "--file {missing}: no such file"),
        (["--run", "{run_translate}", "--file", "{folder}"], "--file {folder}: a folder; give a text file"),
        (["--run", "{run_translate}", "--file", "{binary}"], "looks binary (it holds NUL bytes)"),
        (["--run", "{run_translate}", "--file", "{gaps}"], "line 2 is empty; give one sentence per line"),
        (["--run", "{run_translate}", "hi", "--out", "{existing}"], "--out {existing} already exists"),
        (["--run", "{run_translate}", "hi", "--show-attention", "{folder}/a.jpg"], "give a .png file name"),
        (["--run", "{run_translate}", "hi", "--beam", "0"], "--beam must be a whole number >= 1, got 0"),
    ],
    "speech train": [
        (["--data", "{missing}", "--out", "{out}"], "--data {missing}: no such folder (give fsdd, or a folder"),
        (["--data", "{text}", "--out", "{out}"], "--data {text}: not a folder"),
        (["--data", "{folder}", "--out", "{out}"], "no audio files in sub-folders"),
        (["--data", "{fake_audio}", "--out", "{out}"], "not an audio file or a format libsndfile cannot read"),
        (["--split", "half"], "--split must be standard or speaker:NAME, got 'half'"),
        (["--split", "speaker:"], "--split must be standard or speaker:NAME, got 'speaker:'"),
        (["--speeds", "3"], "--speeds must each be in [0.5, 2]"),
        (["--speeds", "0.9,fast"], "--speeds must be a number, got 'fast'"),
        (["--n-mfcc", "50", "--n-mels", "40"], "--n-mfcc must be at most --n-mels = 40, got 50"),
        (["--stack", "9"], "--stack must be a whole number from 1 to 8, got 9"),
        (["--sample-rate", "10"], "--sample-rate must be a whole number >= 1000, got 10"),
        (["--utterances", "5"], "--utterances must be a whole number >= 10, got 5"),
        (["--task", "sentences"], "--task must be one of words, digits, got 'sentences'"),
        (["--features", "spectrogram"], "--features must be one of logmel, mfcc"),
        (["--valid-fraction", "0"], "--valid-fraction must be a number in (0, 1), got 0.0"),
    ],
    "speech transcribe": [
        ([], "--run is needed: a run folder written by `rnnkit speech train`"),
        (["--run", "{run_speech}"], "nothing to transcribe: give audio files"),
        (["--run", "{run_classify}", "{fake_wav}"], "is a run of `rnnkit classify`, not of `rnnkit speech`"),
        (["--run", "{run_speech}", "{fake_wav}"], "does not start with a safetensors header"),
        (["--run", "{damaged_speech_json}", "{fake_wav}"], 'speech.json: "task" should be text, got None'),
        (["--run", "{run_speech}", "--beam", "0", "{fake_wav}"], "--beam must be a whole number >= 1, got 0"),
    ],
    "speech demo": [
        ([], "--run is needed: a run folder written by `rnnkit speech train`"),
        (["--run", "{run_speech}", "--out", "{folder}/d.jpg"], "give a .png file name"),
        (["--run", "{run_speech}", "--count", "9"], "--count must be a whole number from 1 to 8, got 9"),
        (["--run", "{run_speech}", "--count", "0"], "--count must be a whole number from 1 to 8, got 0"),
        (["--run", "{run_speech}", "--out", "{folder}/d.png"], "does not start with a safetensors header"),
        (["--run", "{damaged_held_out}", "--out", "{folder}/d.png"], "held_out.npz cannot be read"),
    ],
    "report": [
        ([], "nothing to report on: give --run RUN, or --compare RUN_A RUN_B"),
        (["--run", "{missing}"], "--run {missing}: no such folder"),
        (["--run", "{folder}"], "--run {folder}: not a run folder (no config.json)"),
        (["--run", "{text}"], "--run {text}: a file, not a run folder"),
        (["--run", "{no_app}"], "config.json has no app and config; it was not written by rnnkit"),
        (["--run", "{broken_json}"], "config.json is not readable JSON"),
        (["--compare", "{run_textgen}"], "--compare needs two or more run folders, got 1"),
        (["--compare", "{run_textgen}", "{missing}"], "--compare {missing}: no such folder"),
        (["--run", "{run_textgen}", "--compare", "{run_textgen}", "{run_classify}"], "give --run or --compare, not both"),
        (["--run", "{run_textgen}", "--out", "{missing}/report.html"], "its folder {missing} does not exist"),
        (["--open", "x"], "unrecognized arguments: x (see `rnnkit report --help`)"),
    ],
    "export": [
        ([], "nothing to export: give --run RUN, a folder an app trained into"),
        (["--run", "{run_textgen}", "--format", "tflite"], "--format must be one of onnx, got 'tflite'"),
        (["--run", "{missing}"], "--run {missing}: no such folder"),
        (["--run", "{folder}"], "{folder} is not a run folder (no run.json)"),
        (["--run", "{run_textgen}"], "does not start with a safetensors header"),
        (["--run", "{seq2seq}"], "Seq2Seq cannot be exported to ONNX as one graph: only Sequential models and "
                                 "Ensembles"),
        (["--run", "{good_classify}", "--out", "{folder}/model.txt"], "the output file should end in .onnx"),
    ],
    "serve": [
        ([], "nothing to serve: give --run RUN (once per run folder)"),
        (["--run", "{missing}"], "--run {missing}: no such folder"),
        (["--run", "{folder}"], "not a run folder (no config.json)"),
        (["--run", "{run_textgen}"], "cannot be loaded: checkpoint"),
        (["--run", "{no_app}"], "its app None cannot be served"),
        (["--run", "{bad_settings_translate}"], "config.json does not hold valid settings"),
        (["--run", "{damaged_speech_json}"], 'speech.json: "task" should be text'),
        (["--run", "x", "--host", "0.0.0.0"], "--host 0.0.0.0 is not a loopback address"),
        (["--run", "x", "--host", "0.0.0.0", "--api-key", "short"], "--api-key is too short to guard anything"),
        (["--run", "x", "--port", "70000"], "--port must be a whole number from 0 to 65535, got 70000"),
        (["--run", "x", "--port", "-1"], "--port must be a whole number from 0 to 65535, got -1"),
        (["--run", "x", "--timeout", "0"], "--timeout must be a number in (0, 3600], got 0.0"),
        (["--run", "x", "--max-body", "10"], "--max-body must be a whole number from 1000 to 1000000000, got 10"),
        (["--run", "x", "--max-batch", "0"], "--max-batch must be a whole number from 1 to 4096, got 0"),
        (["--run", "x", "--threads", "0"], "--threads must be a whole number from 1 to 1024, got 0"),
        (["--run", "x", "--batch-window-ms", "5000"], "--batch-window-ms must be a number in [0, 1000], got 5000.0"),
        (["--run"], "argument --run: expected at least one argument"),
    ],
    "datasets": [
        ([], "the following arguments are required: action (see `rnnkit datasets --help`)"),
        (["nope"], "argument action: invalid choice: 'nope' (choose from 'list', 'info', 'fetch')"),
        (["info"], "`rnnkit datasets info` needs a dataset name, e.g. `rnnkit datasets info ptb`"),
        (["fetch"], "`rnnkit datasets fetch` needs a dataset name"),
        (["info", "nope"], "unknown dataset 'nope'; available: airline-passengers"),
        (["fetch", "nope"], "unknown dataset 'nope'"),
        (["list", "imdb"], "`rnnkit datasets list` takes no dataset name, got 'imdb'"),
        (["info", "imdb", "extra"], "unrecognized arguments: extra (see `rnnkit datasets --help`)"),
    ],
    "demo": [
        (["cifar"], "which must be one of shakespeare, alphabet, sine, vanishing, mnist, fashion-mnist, got 'cifar'"),
        (["--seconds", "0"], "--seconds must be positive, got 0.0"),
        (["--seconds", "x"], "--seconds must be a number, got 'x'"),
        (["--time-budget", "soon"], "--time-budget 'soon' is not a duration"),
        (["--seconds", "3", "--time-budget", "3m"], "argument --time-budget: not allowed with argument --seconds"),
        (["--seed", "1.5"], "--seed must be a whole number, got '1.5'"),
        (["alphabet", "mnist"], "unrecognized arguments: mnist (see `rnnkit demo --help`)"),
        (["alphabet", "--out", "{out}"], "--out: the alphabet demo writes no run folder; leave it out"),
        (["alphabet", "--seconds", "5"], "--seconds: the alphabet demo trains a fixed number of epochs"),
        (["sine", "--out", "{out}"], "--out: the sine demo writes no run folder; leave it out"),
    ],
}

# rows that prove the exit code a shell sees, in real processes (run at the same time): one refused by
# argparse, one by the command
PROCESS_ROWS = [
    (["textgen", "train", "--nope"], "unrecognized arguments: --nope"),
    (["classify", "predict", "--run", "{run_textgen}", "good"], "is a run of `rnnkit textgen`, not of `rnnkit classify`"),
]


def _table() -> list:
    params = []
    for command, rows in ROWS.items():
        prefix = [] if command == "rnnkit" else command.split()
        for i, (argv, words) in enumerate(rows):
            params.append(pytest.param(prefix + argv, words, id=f"{command}-{i:02d}"))
    return params


def _tiny_sequential() -> Sequential:
    model = Sequential([Embedding(10, 4, mask_zero=True), LSTM(4), Dense(2)])
    model(torch.ones(1, 3, dtype=torch.long))
    return model


def _run_folder(path: Path, app: str, settings: dict | None = None, model: Model | None = None) -> str:
    """A run folder of ``app`` whose files are written here (``model``: saved whole; else a garbage model file)."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"app": app, "rnnkit": "0", "config": settings or {}}))
    (path / "run.json").write_text(json.dumps({"app": app, "model": "model.safetensors"}))
    if model is not None:
        model.save(str(path / "model.safetensors"))
    else:
        (path / "model.safetensors").write_bytes(b"\x00\xffnot a checkpoint")
    vocab = Vocab.build([["good", "bad"]], level="word")
    for name in ("vocab.json", "source_vocab.json", "target_vocab.json"):
        vocab.save(path / name)
    (path / "classes.json").write_text(json.dumps({"classes": ["neg", "pos"]}))
    (path / "speech.json").write_text(json.dumps({"task": "words", "classes": ["a", "b"], "sample_rate": 8000,
                                                   "features": "mfcc", "n_mels": 40, "n_mfcc": 13, "hop_ms": 10,
                                                   "stack": 2}))
    (path / "preprocess.json").write_text("{}")
    return str(path)


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, str]:
    """The paths the rows name, all under one folder (which the rows must leave as it is)."""
    root = tmp_path_factory.mktemp("cli-errors")
    files = root / "files"
    files.mkdir()

    def write(name: str, content: bytes) -> str:
        (files / name).write_bytes(content)
        return str(files / name)

    p = {"missing": str(root / "missing"), "out": str(root / "out"), "folder": str(files / "empty-folder")}
    (files / "empty-folder").mkdir()
    p["text"] = write("hello.txt", b"hello there\n")
    p["short"] = write("short.txt", b"hello")
    p["existing"] = write("existing.csv", b"keep me\n")
    p["binary"] = write("binary.bin", b"RIFF\x00\x00\x01binary")
    p["latin"] = write("latin.txt", "é\tà\n".encode("latin-1"))
    p["latin_csv"] = write("latin.csv", "text,label\ncaf\xe9,pos\n".encode("latin-1"))
    p["empty"] = write("empty.csv", b"")
    p["corpus"] = write("corpus.txt", b"the quick brown fox jumps over the lazy dog\n" * 4)
    p["labelled"] = write("labelled.csv", b"text,label\ngood,pos\nbad,neg\nfine,pos\nawful,neg\n")
    p["one_class"] = write("one.csv", b"text,label\ngood,pos\nfine,pos\n")
    p["texts_only"] = write("texts.csv", b"text\ngood\n")
    p["gaps"] = write("gaps.txt", b"one text\n\nanother\n")
    p["pairs"] = write("pairs.tsv", "hi\tsalut\nyes\toui\n".encode())
    p["series"] = write("series.csv", "date,sales\n".encode() + b"".join(
        f"2020-{1 + i // 28:02d}-{1 + i % 28:02d},{i}\n".encode() for i in range(30)))
    p["fake_wav"] = write("fake.wav", b"RIFF\x00\x00not audio")
    (files / "audio" / "yes").mkdir(parents=True)
    (files / "audio" / "yes" / "a.wav").write_bytes(b"RIFF\x00\x00not audio")
    p["fake_audio"] = str(files / "audio")
    runs = root / "runs"
    runs.mkdir()
    for app in APPS:
        p[f"run_{app}"] = _run_folder(runs / app, app)
    bad = {"units": -3, "data": 5}  # settings that break their rules, as an edited config.json holds them
    for app in ("textgen", "classify", "forecast", "translate"):
        p[f"bad_settings_{app}"] = _run_folder(runs / f"{app}-bad-settings", app, bad)
    for app in ("textgen", "classify"):
        p[f"no_model_{app}"] = _run_folder(runs / f"{app}-no-model", app)
        os.remove(runs / f"{app}-no-model" / "model.safetensors")
    p["broken_json"] = _run_folder(runs / "broken-json", "textgen")
    (runs / "broken-json" / "config.json").write_text('{"app": "textgen", ')
    p["list_json"] = _run_folder(runs / "list-json", "textgen")
    (runs / "list-json" / "config.json").write_text("[1, 2]")
    p["no_app"] = _run_folder(runs / "no-app", "textgen")
    (runs / "no-app" / "config.json").write_text('{"config": {}}')
    tiny = _tiny_sequential()
    p["good_classify"] = _run_folder(runs / "classify-good", "classify", model=tiny)
    p["damaged_classes"] = _run_folder(runs / "classify-damaged", "classify", model=tiny)
    (runs / "classify-damaged" / "classes.json").write_text("{}")
    p["damaged_speech_json"] = _run_folder(runs / "speech-damaged", "speech", model=tiny)
    (runs / "speech-damaged" / "speech.json").write_text('{"classes": 3}')
    p["damaged_held_out"] = _run_folder(runs / "speech-held-out", "speech", model=tiny)
    (runs / "speech-held-out" / "held_out.npz").write_bytes(b"PK\x03\x04 cut short")
    seq2seq = Seq2Seq(6, 6, units=4, embed_dim=4)
    seq2seq((torch.ones(1, 3, dtype=torch.long), torch.ones(1, 2, dtype=torch.long)))
    p["seq2seq"] = _run_folder(runs / "translate-seq2seq", "translate", model=seq2seq)
    return p


def _tree(*roots: str) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots``: path -> (size, modification time)."""
    out = {}
    for root in roots:
        for folder, dirs, names in os.walk(root):
            for name in dirs + names:
                stat = os.stat(os.path.join(folder, name))
                out[os.path.join(folder, name)] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def rnnkit_main(place, run_cli, tmp_path_factory):
    """``run_cli`` in an empty working folder, with the parser built once (the command builds it afresh on each
    call); training, serving and downloads fail the test should a row ever reach them."""
    def never(*args, **kwargs):
        raise AssertionError("a command the table expects to be refused went on to train, serve or download")

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        mp.setattr(cli, "_parser", functools.lru_cache(maxsize=1)(cli._parser))
        mp.setattr(Model, "fit", never)
        mp.setattr("rnnkit.datasets.fetch", never)
        try:
            import uvicorn
            mp.setattr(uvicorn, "run", never)
        except ImportError:  # the serve rows are skipped
            pass
        yield run_cli


@pytest.mark.parametrize("argv, words", _table())
def test_every_bad_input_is_one_line_exit_code_2_and_writes_nothing(rnnkit_main, place, argv, words):
    extra = {"serve": ("fastapi", "serve"), "export": ("onnxruntime", "onnx")}.get(argv[0] if argv else "")
    if extra and importlib.util.find_spec(extra[0]) is None:
        pytest.skip(f"rnnkit {argv[0]} needs the [{extra[1]}] extra: pip install -e '.[{extra[1]}]'")
    argv = [a.format(**place) for a in argv]
    root = str(Path(place["out"]).parent)
    before = _tree(root, os.getcwd())
    code, err = rnnkit_main(argv)
    assert code == 2, err
    assert err.startswith("rnnkit: error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert words.format(**place) in err, err
    assert _tree(root, os.getcwd()) == before, "a refused command wrote or changed files"


def test_the_table_covers_every_command(cli_commands):
    """Each command of ``rnnkit --help`` (and each app's sub-commands) has rows in the table."""
    assert {*cli_commands, "rnnkit"} == set(ROWS)


@pytest.mark.slow
def test_the_real_process_exits_with_code_2_and_one_line(place):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(cli.__file__).parents[2]),
                                                         os.environ.get("PYTHONPATH", "")])}
    procs = [(subprocess.Popen([sys.executable, "-m", "rnnkit.cli", *[a.format(**place) for a in argv]],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=place["folder"]), words.format(**place))
             for argv, words in PROCESS_ROWS]
    for proc, words in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and out == "", (proc.returncode, err)
        assert err.startswith("rnnkit: error: ") and err.count("\n") == 1 and words in err, err


def test_the_error_line_is_one_write_so_that_ranks_sharing_stderr_cannot_run_together(monkeypatch, tmp_path):
    """stderr writes through: ``print`` would write the text and its newline apart, and under ``--nproc`` the
    other rank's line could land between them (seen: two messages on one line)."""
    writes: list[str] = []

    class Recorder:
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stderr", Recorder())
    assert cli.main(["classify", "train", "--data", str(tmp_path / "missing.csv")]) == 2
    assert len(writes) == 1 and writes[0].startswith("rnnkit: error: ") and writes[0].count("\n") == 1, writes
