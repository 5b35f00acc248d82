"""Fill the stack's configuration templates (string.Template, `$name` placeholders)."""

from importlib import resources
from pathlib import Path
from string import Template


def render(template_name: str, target: Path, mode: int = 0o644, **values: object) -> Path:
    text = (resources.files("mailbasic.devstack") / "templates" / template_name).read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(Template(text).substitute(values))
    target.chmod(mode)
    return target
