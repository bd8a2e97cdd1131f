"""The next-letter demo learns every window and answers typed questions without tracebacks."""
import string

import pytest

from rnnkit.apps.alphabet import AlphabetConfig, run
from rnnkit.errors import ConfigError

LETTERS = string.ascii_lowercase


def next_letter(four):
    """The expected answer, from the alphabet itself (wrapping z -> a), not from the model."""
    return LETTERS[(LETTERS.index(four[-1].lower()) + 1) % 26]


class Script:
    """An input_fn that types the given lines, then raises EOFError; it records its prompts."""

    def __init__(self, lines):
        self.lines = list(lines)
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)


QUESTIONS = ["abcd", "WXYZ", " k l m n ", "yZaB", "ab", "a1cd", "abcde", "", "pqrs"]


@pytest.fixture(scope="module")
def session():
    """One full run with the default config (training takes about a second)."""
    printed = []
    script = Script(QUESTIONS)
    result = run(input_fn=script, print_fn=printed.append)
    return result, printed, script


@pytest.mark.slow  # trains the alphabet model (about 4 s); .ci/run's slow pass runs it
def test_training_reaches_full_accuracy_and_prints_every_window(session):
    result, printed, _ = session
    assert result["accuracy"] == 1.0
    assert "training accuracy 100.0% on 26 windows" in printed[1]
    windows = ["".join(LETTERS[(s + t) % 26] for t in range(4)) for s in range(26)]
    assert printed[2:28] == [f"{w} -> {next_letter(w)}" for w in windows]


@pytest.mark.slow  # shares the trained session above
def test_questions_get_the_next_letter_and_bad_lines_a_hint(session):
    result, printed, script = session
    expected = [(q, next_letter(q)) for q in ("abcd", "wxyz", "klmn", "yzab")]
    assert expected[0] == ("abcd", "e") and expected[1] == ("wxyz", "a")
    assert result["answers"] == expected
    dialogue = printed[28:]
    assert dialogue[:4] == [f"{q} -> {a}" for q, a in expected]
    hints = dialogue[4:]
    assert len(hints) == 3  # "ab", "a1cd", "abcde"; then the empty line ends the loop before "pqrs"
    for hint, bad in zip(hints, ["ab", "a1cd", "abcde"]):
        assert hint.startswith("please type exactly 4 letters a-z") and repr(bad) in hint and "\n" not in hint
    assert len(script.prompts) == QUESTIONS.index("") + 1
    assert script.lines == ["pqrs"]


def _printed_guesses(printed):
    """{window: the model's letter} from the 26 lines printed after training ('abcd -> y  (should be e)')."""
    return dict(line.split("  (should be")[0].split(" -> ") for line in printed[2:28])


@pytest.mark.slow  # trains a model first (about 2 s)
def test_end_of_input_and_q_end_the_loop_cleanly():
    quick = AlphabetConfig(epochs=2)  # the loop's behaviour does not depend on the training
    printed = []
    script = Script(["zzz", "q", "abcd"])
    result = run(quick, input_fn=script, print_fn=printed.append)
    assert result["answers"] == [] and script.lines == ["abcd"]
    # the reported accuracy is the share of printed answers that are the next letter of the alphabet:
    # after 2 of the 1500 epochs, few (4 of 26 here, 26 of 26 after the full run above)
    guesses = _printed_guesses(printed)
    right = sum(guess == next_letter(window) for window, guess in guesses.items())
    assert len(guesses) == 26 and result["accuracy"] == right / 26 and right < 13
    assert f"training accuracy {right / 26:.1%} on 26 windows after 2 epochs" in printed[1]
    printed = []
    script = Script(["bcd e"])  # then EOFError
    result = run(quick, input_fn=script, print_fn=printed.append)
    assert [q for q, _ in result["answers"]] == ["bcde"] and len(script.prompts) == 2
    assert result["answers"][0][1] == _printed_guesses(printed)["bcde"]  # the trained model answers the question


@pytest.mark.slow
def test_non_interactive_run_never_asks():
    def no_input(prompt):
        raise AssertionError("input_fn was called")

    result = run(AlphabetConfig(epochs=1, interactive=False), input_fn=no_input, print_fn=lambda line: None)
    assert result["answers"] == []


@pytest.mark.parametrize("field, value", [("units", 0), ("epochs", 1.5), ("window", 26), ("learning_rate", -1.0)])
def test_bad_settings_are_config_errors(field, value):
    with pytest.raises(ConfigError, match=f"`{field}`"):
        AlphabetConfig(**{field: value})
