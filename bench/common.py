"""What the benchmarks share: reports under reports/."""

from harness.live_server import ROOT


def write_report(name: str, title: str, body: str) -> None:
    report = ROOT / "reports" / name
    report.parent.mkdir(exist_ok=True)
    report.write_text(f"# {title}\n\n{body}\n")
