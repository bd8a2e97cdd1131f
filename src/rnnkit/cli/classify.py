"""``rnnkit classify train|predict|evaluate``: parsing and printing only, the work is in apps.classify."""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_classify"]


def _train(args: argparse.Namespace) -> int:
    from ..apps.classify import ClassifyConfig, train
    from ..runs import parse_duration

    values = {k: v for k, v in vars(args).items()
              if k not in ("func", "command", "action", "quiet", "time_budget")}
    if args.time_budget is not None:
        values["time_budget"] = parse_duration(args.time_budget)
        values["epochs"] = None
    train(ClassifyConfig(**values), verbose=0 if args.quiet else 1)
    return 0


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _predict(args: argparse.Namespace) -> int:
    from ..apps.classify import predict
    from ..apps.classify.data import read_texts
    from ..errors import ConfigError
    from ..runs import write_csv

    if args.file and args.texts:
        raise ConfigError("give texts on the command line or --file, not both")
    texts = read_texts(args.file, args.text_column) if args.file else list(args.texts)
    if not texts:
        raise ConfigError('nothing to classify: give texts (rnnkit classify predict --run R "a text") or --file texts.csv')
    predictions = predict(args.run, texts)
    for text, p in zip(texts, predictions):
        print(f"{p.label}\t{p.probability:.4f}\t{_short(text)}")
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.overwrite:
            raise ConfigError(f"--out {out} already exists; choose another file or pass --overwrite")
        classes = list(predictions[0].probabilities)
        write_csv(out, ["text", "label", "probability", *[f"p_{c}" for c in classes]],
                  ([t, p.label, f"{p.probability:.6f}", *[f"{p.probabilities[c]:.6f}" for c in classes]]
                   for t, p in zip(texts, predictions)))
        print(f"classify: {len(texts):,} predictions written to {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ..apps.classify import evaluate

    r = evaluate(args.run, args.data, text_column=args.text_column, label_column=args.label_column)
    print(f"{args.data}: {r['examples']:,} texts, accuracy {r['accuracy']:.2%}, macro F1 {r['macro_f1']:.4f}"
          + (f"; {r['truncated']:,} cut to --max-len" if r["truncated"] else ""))
    width = max(len(c) for c in r["per_class"])
    print(f"{'class':<{width}}  precision  recall      f1  support")
    for c, m in r["per_class"].items():
        print(f"{c:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  {m['support']:7,}")
    return 0


def add_classify(sub: argparse._SubParsersAction) -> None:
    from ..apps.classify import ClassifyConfig
    from ..apps.classify.model import MODELS

    base = ClassifyConfig()
    parser = sub.add_parser("classify", help="text classification: sentiment analysis and more")
    actions = parser.add_subparsers(dest="action", required=True)

    train = actions.add_parser("train", help="train a classifier on labelled texts")
    train.add_argument("--data", default=base.data,
                       help="imdb, sst2, or a CSV/TSV/JSONL file or a folder with one sub-folder per label (default %(default)s)")
    train.add_argument("--text-column", default=None, help="column of the texts (default: text, sentence, review ...)")
    train.add_argument("--label-column", default=None, help="column of the labels (default: label, sentiment, class ...)")
    train.add_argument("--test-data", default=None, help="a separate labelled file for the test figures")
    train.add_argument("--model", choices=MODELS, default=base.model)
    train.add_argument("--level", choices=["word", "char"], default=base.level, help="tokens: words or characters (Chinese: char)")
    train.add_argument("--max-len", type=int, default=base.max_len, help="tokens kept per text, its last ones (default %(default)s)")
    train.add_argument("--vocab", type=int, default=base.vocab, help="vocabulary size (default %(default)s)")
    train.add_argument("--min-freq", type=int, default=base.min_freq, help="words seen fewer times become <unk> (default %(default)s)")
    train.add_argument("--embed-dim", type=int, default=base.embed_dim)
    train.add_argument("--units", type=int, default=base.units)
    train.add_argument("--layers", type=int, default=base.layers)
    train.add_argument("--dropout", type=float, default=base.dropout)
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=base.epochs, help="at most this many epochs (default 10)")
    budget.add_argument("--time-budget", default=None, help="training time, e.g. 90s, 10m (validation not counted)")
    train.add_argument("--batch-size", type=int, default=base.batch_size)
    train.add_argument("--lr", type=float, default=base.learning_rate, dest="learning_rate")
    train.add_argument("--clipnorm", type=float, default=base.clipnorm)
    train.add_argument("--patience", type=int, default=base.patience, help="early stopping: epochs without a better validation accuracy")
    train.add_argument("--valid-fraction", type=float, default=base.valid_fraction)
    train.add_argument("--test-fraction", type=float, default=base.test_fraction, help="held out for testing when the data has no test split")
    train.add_argument("--seed", type=int, default=base.seed)
    train.add_argument("--out", default=None, help="run folder (default runs/classify-<time>)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    pred = actions.add_parser("predict", help="label and probability of texts, with a trained run")
    pred.add_argument("--run", required=True, help="a run folder written by `rnnkit classify train`")
    pred.add_argument("texts", nargs="*", help="texts to classify")
    pred.add_argument("--file", default=None, help="CSV/TSV/JSONL (text column) or .txt (one text per line)")
    pred.add_argument("--text-column", default=None)
    pred.add_argument("--out", default=None, help="also write the predictions to this CSV file")
    pred.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    pred.set_defaults(func=_predict)

    ev = actions.add_parser("evaluate", help="accuracy, macro F1 and per-class figures on labelled data")
    ev.add_argument("--run", required=True)
    ev.add_argument("--data", required=True, help="a labelled CSV/TSV/JSONL file or folder, or imdb/sst2 (their test split)")
    ev.add_argument("--text-column", default=None)
    ev.add_argument("--label-column", default=None)
    ev.set_defaults(func=_evaluate)
