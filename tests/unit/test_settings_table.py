"""One place for configuration: the table of docs/configuration.md is the settings class's own, row for row."""

from pathlib import Path

from config.settings import Settings

PAGE = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_the_configuration_page_lists_every_setting_with_its_default_and_meaning():
    assert Settings.table() in PAGE.read_text(), "regenerate the table: python -m config.settings"


def test_negative_control_a_setting_missing_from_the_readme_is_caught():
    page = PAGE.read_text()
    row = next(line for line in Settings.table().splitlines() if line.startswith("| `LOG_FORMAT`"))
    assert Settings.table() not in page.replace(row + "\n", "")
