"""The README documents every setting, so a new user can configure Teachbox from it."""

from pathlib import Path

from teachbox.settings import describe_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table_with_its_default() -> None:
    text = README.read_text()
    missing = [name for name, default, _ in describe_settings()
               if f"| `{name}` | `{default}` |" not in text]
    assert missing == []
