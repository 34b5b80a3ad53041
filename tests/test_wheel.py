"""The built wheel works on its own: the SQL macro files ship inside it.

Builds the wheel from this source tree, installs it into a fresh virtual
environment and runs the table macros from a directory outside the source tree,
so only the installed copy of the package can be imported.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL_FILES = sorted(p.name for p in (ROOT / "sql").glob("*.sql"))

SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path

    import duckdb
    import duckdb_vsa

    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=64)
    con.execute(
        "CREATE TABLE docs AS SELECT i AS id, "
        "json_object('name', 'item ' || (i % 7), 'n', i % 7) AS doc FROM range(30) t(i)"
    ).fetchall()
    con.execute("CREATE TABLE items AS SELECT id, doc, vsa_encode(doc) AS vec FROM docs").fetchall()
    search = con.execute(
        "SELECT id, score FROM vsa_search('items', 'vec', vsa_encode(?), k := 3)",
        ['{"name": "item 3", "n": 3}'],
    ).fetchall()
    join = con.execute(
        "SELECT l.id, r.id, rank FROM vsa_topk_join('items', 'vec', 'items', 'vec', k := 2)"
    ).fetchall()
    dups = con.execute(
        "SELECT l.id, r.id FROM vsa_near_duplicates('items', 'vec', threshold := 0.99)"
    ).fetchall()
    info = con.execute("SELECT vsa_info()").fetchall()[0][0]
    print(json.dumps({
        "module": str(Path(duckdb_vsa.__file__).resolve()),
        "info": info,
        "encoder": enc.info(),
        "search": search,
        "join": join,
        "dups": dups,
    }))
    """
)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_wheel_installs_and_runs_the_macros_outside_the_source_tree(tmp_path) -> None:
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)])
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert SQL_FILES, "no sql/*.sql in the source tree"
    for name in SQL_FILES:
        assert f"duckdb_vsa/sql/{name}" in names, sorted(names)
    assert "duckdb_vsa/__init__.py" in names

    # A fresh environment that sees this interpreter's dependencies (duckdb, numpy,
    # pyarrow, scipy) through a .pth file, so nothing is downloaded, but whose own
    # site-packages (holding the wheel) comes first.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ]
    )
    # Only after the install: were this interpreter's packages visible to pip, an
    # installed duckdb_vsa there would count as "already satisfied" and be used instead.
    parent_paths = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_parent_site.pth").write_text("\n".join(parent_paths) + "\n")

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    (workdir / "use_wheel.py").write_text(SCRIPT)
    out = json.loads(run([str(python), "use_wheel.py"], cwd=workdir).stdout)

    module = Path(out["module"])
    assert Path(purelib).resolve() in module.parents, module
    assert ROOT not in module.parents, module
    assert out["info"] == out["encoder"]
    assert out["info"]["dim"] == 64
    search = out["search"]
    assert [row[0] for row in search] == [3, 10, 17]  # identical docs, earlier rows first
    assert all(abs(score - 1.0) < 1e-5 for _, score in search)
    assert len(out["join"]) == 30 * 2
    dups = {tuple(pair) for pair in out["dups"]}
    expected = {(a, b) for a in range(30) for b in range(a + 1, 30) if a % 7 == b % 7}
    assert dups == expected

    # The console script the wheel declares runs from the installed copy.
    script = env_dir / ("Scripts/duckdb-vsa.exe" if os.name == "nt" else "bin/duckdb-vsa")
    assert script.is_file(), sorted(p.name for p in script.parent.iterdir())
    assert run([str(script), "--help"], cwd=workdir).stdout.startswith("usage: duckdb-vsa")
    info = json.loads(
        run([str(script), "info", "--dim", "64", "--format", "json"], cwd=workdir).stdout
    )
    assert info["fingerprint"] == out["info"]["fingerprint"]
