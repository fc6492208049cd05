"""A small daily-weather table like the one of issue 25: a ``date`` text column, four numbers, a text label.

The weather depends on the season (the month of ``date``) and on the numbers, with noise, so a
model that reads the numbers (and the date's month) beats the majority class by far, and one
fed ``date`` as a vocabulary id does not.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def weather_frame(days: int = 731, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2012-01-01", periods=days, freq="D")
    season = np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 15) / 365.25)  # 1 in January, -1 in July
    temp_max = 15 - 9 * season + rng.normal(0, 3, days)
    temp_min = temp_max - 6 - rng.gamma(2, 1.5, days)
    wet = rng.random(days) < 0.35 + 0.25 * season
    precipitation = np.where(wet, rng.gamma(1.5, 4, days), 0.0)
    wind = rng.gamma(4, 0.8, days) + 1.5 * wet
    weather = np.where(precipitation > 0, np.where(temp_max < 4, "snow",
                                                   np.where(precipitation < 2.5, "drizzle", "rain")),
                       np.where(rng.random(days) < 0.25 + 0.2 * season, "fog", "sun"))
    flip = rng.random(days) < 0.1  # label noise
    weather = np.where(flip, rng.choice(["drizzle", "rain", "sun", "snow", "fog"], days), weather)
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "precipitation": precipitation.round(1),
                         "temp_max": temp_max.round(1), "temp_min": temp_min.round(1), "wind": wind.round(1),
                         "weather": weather})


def write_weather(folder: Path, days: int = 731) -> Path:
    """``folder/weather.csv``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "weather.csv"
    weather_frame(days).to_csv(path, index=False)
    return path
