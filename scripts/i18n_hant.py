"""Write ``ui/i18n_hant.py``: the interface's Simplified Chinese (``ui.i18n.ZH``) in
Traditional Chinese of Taiwan usage, by OpenCC's ``s2twp`` (a development step, not a
dependency of the app):

    pip install --target /tmp/opencc-lib opencc==1.4.2
    PYTHONPATH=/tmp/opencc-lib python scripts/i18n_hant.py > ui/i18n_hant.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER = '''"""The interface in Traditional Chinese (Taiwan usage): ``ZH`` of ``ui.i18n`` converted
with OpenCC 1.4.2's ``s2twp`` (characters and Taiwanese vocabulary: 文档 -> 文件, 文件 -> 檔案),
once; placeholders are kept. Regenerate after changing ``ZH``:

    pip install --target /tmp/opencc-lib opencc==1.4.2
    PYTHONPATH=/tmp/opencc-lib python scripts/i18n_hant.py > ui/i18n_hant.py
"""

from __future__ import annotations

ZH_HANT: dict[str, str] = {'''


def main() -> None:
    import opencc

    from ui.i18n import ZH

    convert = opencc.OpenCC("s2twp").convert
    lines = [HEADER]
    for key, text in ZH.items():
        hant = convert(text).replace("“", "「").replace("”", "」")
        lines.append(
            f"    {json.dumps(key, ensure_ascii=False)}: {json.dumps(hant, ensure_ascii=False)},"
        )
    lines.append("}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
