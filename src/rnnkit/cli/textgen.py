"""``rnnkit textgen train|sample``, ``rnnkit lm train`` and ``rnnkit demo``: parsing only, the work is in apps."""
from __future__ import annotations

import argparse
import sys

__all__ = ["add_textgen", "add_lm", "add_demo"]

# Zaremba et al. 2014, "small": 2 x 200 LSTM, 20 steps, batch 20, weights from U(-0.1, 0.1), SGD at lr 1 halved
# after epoch 4, clip 5, 13 epochs.  Their loss is summed over the 20 steps and averaged over the batch; rnnkit's is
# the mean per token, 20x smaller, so the same updates are lr 20 and clip 5/20 = 0.25 here:
# lr * clip(20 g, 5) = (20 lr) * clip(g, 0.25).
_LM_DEFAULTS = dict(
    data="ptb", level="word", layers=2, units=200, embed_dim=200, dropout=0.0, seq_len=20, batch_size=20,
    epochs=13, optimizer="sgd", learning_rate=20.0, schedule="step", lr_decay=0.5, decay_after=4, clipnorm=0.25,
    init_scale=0.1, eval_batch_size=10, sample_length=30,
)


def _train_arguments(parser: argparse.ArgumentParser, defaults: dict) -> None:
    from ..apps.textgen import TextgenConfig
    from ..apps.textgen.recipe import DEFAULT_SIZE

    base = TextgenConfig(**defaults)
    parser.add_argument("--data", default=base.data, help=f"dataset name or UTF-8 text file (default {base.data})")
    parser.add_argument("--level", choices=["char", "word"], default=base.level)
    fixed = any(getattr(base, k) is not None for k in ("cell", "layers", "units"))  # lm's defaults fix the size

    def default(key: str) -> str:
        """Help text of a default: the value, or how a value left out is chosen."""
        value = getattr(base, key)
        return f"default {value if value is not None else DEFAULT_SIZE[key]}" + ("" if fixed or value is not None else
                                                                                 " or chosen by --time-budget")

    parser.add_argument("--cell", default=base.cell, help=f"lstm, gru, rnn, mingru or minlstm ({default('cell')})")
    parser.add_argument("--layers", type=int, default=base.layers, help=default("layers"))
    parser.add_argument("--units", type=int, default=base.units, help=default("units"))
    parser.add_argument("--embed-dim", type=int, default=base.embed_dim)
    parser.add_argument("--dropout", type=float, default=base.dropout)
    parser.add_argument("--tie", action="store_true", default=base.tie_weights, help="share embedding and output weights (needs --embed-dim = --units)")
    parser.add_argument("--init-scale", type=float, default=base.init_scale, help="start every weight from U(-s, s)")
    parser.add_argument("--seq-len", type=int, default=base.seq_len, help=f"BPTT length ({default('seq_len')})")
    parser.add_argument("--batch-size", type=int, default=base.batch_size, help=default("batch_size"))
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=base.epochs)
    budget.add_argument("--time-budget", default=None,
                        help="training time, e.g. 90s, 10m, 1h (validation not counted); with no --cell/--layers/--units, "
                             "its first seconds time candidate models and the best one for this machine is trained")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default=base.optimizer)
    parser.add_argument("--lr", type=float, default=base.learning_rate, dest="learning_rate",
                        help=default("learning_rate"))
    parser.add_argument("--schedule", choices=["cosine", "step", "constant"], default=base.schedule)
    parser.add_argument("--lr-decay", type=float, default=base.lr_decay)
    parser.add_argument("--decay-after", type=int, default=base.decay_after)
    parser.add_argument("--clipnorm", type=float, default=base.clipnorm)
    parser.add_argument("--eval-batch-size", type=int, default=base.eval_batch_size)
    parser.add_argument("--sample-length", type=int, default=base.sample_length, help="sample printed after each epoch (0: none)")
    parser.add_argument("--prompt", default=base.sample_prompt, dest="sample_prompt", help="start of each epoch's sample")
    parser.add_argument("--seed", type=int, default=base.seed)
    parser.add_argument("--out", default=None, help="run folder (default runs/textgen-<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _train(args: argparse.Namespace) -> int:
    from ..apps.textgen import TextgenConfig, train
    from ..runs import parse_duration
    from ..errors import ConfigError

    values = {k: v for k, v in vars(args).items() if k not in ("func", "command", "action", "resume", "quiet", "tie", "time_budget")}
    values["tie_weights"] = args.tie
    if args.time_budget is not None:
        values["time_budget"] = parse_duration(args.time_budget)
        values["epochs"] = None
    if args.resume and not args.out:
        raise ConfigError("--resume needs --out FOLDER: the run to continue")
    train(TextgenConfig(**values), resume=args.resume, verbose=0 if args.quiet else 1)
    return 0


def _sample(args: argparse.Namespace) -> int:
    from ..apps.textgen import sample

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    sys.stdout.write(args.prompt)
    sample(args.run, args.prompt, args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
           greedy=args.greedy, beam=args.beam, seed=args.seed, stream=stream)
    sys.stdout.write("\n")
    return 0


def add_textgen(sub: argparse._SubParsersAction) -> None:
    textgen = sub.add_parser("textgen", help="train a character- or word-level language model, generate text")
    actions = textgen.add_subparsers(dest="action", required=True)
    train = actions.add_parser("train", help="train into a run folder")
    _train_arguments(train, {})
    train.set_defaults(func=_train)
    smp = actions.add_parser("sample", help="generate text from a trained run")
    smp.add_argument("--run", required=True, help="run folder written by `rnnkit textgen train`")
    smp.add_argument("--prompt", default="")
    smp.add_argument("--length", type=int, default=500)
    smp.add_argument("--temperature", type=float, default=0.8)
    smp.add_argument("--top-k", type=int, default=40)
    smp.add_argument("--top-p", type=float, default=0.95)
    smp.add_argument("--greedy", action="store_true", help="always the most likely next token")
    smp.add_argument("--beam", type=int, default=0, help="beam search with this many beams")
    smp.add_argument("--seed", type=int, default=None)
    smp.set_defaults(func=_sample)


def add_lm(sub: argparse._SubParsersAction) -> None:
    lm = sub.add_parser("lm", help="word-level language modelling (PTB by default), with test perplexity")
    actions = lm.add_subparsers(dest="action", required=True)
    train = actions.add_parser("train", help="train; defaults are Zaremba et al.'s small PTB model")
    _train_arguments(train, _LM_DEFAULTS)
    train.set_defaults(func=_train)


def _demo(args: argparse.Namespace) -> int:
    if args.which == "alphabet":
        from ..apps.alphabet import run as alphabet

        alphabet()
        return 0
    if args.which == "sine":
        from ..apps.demo import DemoConfig, run

        run(DemoConfig(seconds=args.seconds or 20.0, seed=args.seed))
        return 0
    from ..apps.textgen import TextgenConfig, train
    from ..apps.textgen.recipe import sample

    seconds = args.seconds or 120.0
    print(f"rnnkit demo: a character-level recurrent network, sized for this machine, learns Shakespeare's plays "
          f"for {seconds:.0f} s (no network needed)")
    cfg = TextgenConfig(data="shakespeare-plays", time_budget=seconds, sample_prompt="ROMEO:\n", seed=args.seed, out=args.out)
    train(cfg, verbose=1)
    print("\nGenerated text (prompt 'ROMEO:'):\n")
    print("ROMEO:", end="", flush=True)
    sample(cfg.out, "ROMEO:", 400, seed=args.seed, stream=lambda piece: print(piece, end="", flush=True))
    print(f"\n\nSample more with:  rnnkit textgen sample --run {cfg.out} --prompt 'JULIET:'")
    print(f"Loss curve: {cfg.out}/loss.png   figures: {cfg.out}/metrics.json")
    return 0


def add_demo(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="the quickstart: a Shakespeare character model (or: alphabet, sine)")
    demo.add_argument("which", nargs="?", choices=["shakespeare", "alphabet", "sine"], default="shakespeare")
    demo.add_argument("--seconds", type=float, default=None, help="training time (default 120; sine: 20)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default=None, help="run folder (default runs/textgen-<time>)")
    demo.set_defaults(func=_demo)
