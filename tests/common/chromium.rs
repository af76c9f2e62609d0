//! A report opened as a reader opens it: headless Chromium builds its DOM and takes a screenshot,
//! whose pixels a test reads (where a picture's colours are, and how many).

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(user_data: &Path) -> Command {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: install Debian's `chromium` package (.ci/run does)");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", user_data.display()));
    cmd
}

/// The DOM Chromium built of the page, with its profile in `profile`.
pub fn dom(page: &Path, profile: &Path) -> String {
    let out = chromium(profile).arg("--dump-dom").arg(format!("file://{}", page.display())).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A screenshot's pixels.
pub struct Shot {
    width: usize,
    height: usize,
    samples: usize,
    pixels: Vec<u8>,
}

/// A box of pixels: left, top, right, bottom (inclusive).
pub type Area = (usize, usize, usize, usize);

impl Shot {
    /// The page in a window `size` wide and high, saved as `png`.
    pub fn take(page: &Path, profile: &Path, png: &Path, (width, height): (u32, u32)) -> Shot {
        let out = chromium(profile)
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(png.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
        let mut reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap())).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        pixels.truncate(info.buffer_size());
        Shot { width: info.width as usize, height: info.height as usize, samples: info.color_type.samples(), pixels }
    }

    pub fn whole(&self) -> Area {
        (0, 0, self.width - 1, self.height - 1)
    }

    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * self.samples;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    fn pixels_in(&self, (left, top, right, bottom): Area) -> impl Iterator<Item = (usize, usize, [u8; 3])> + '_ {
        (top..=bottom.min(self.height - 1)).flat_map(move |y| (left..=right.min(self.width - 1)).map(move |x| (x, y, self.rgb(x, y))))
    }

    /// How many different colours the area has.
    pub fn colours(&self, area: Area) -> usize {
        self.pixels_in(area).map(|(_, _, c)| c).collect::<std::collections::HashSet<_>>().len()
    }

    /// How many pixels of the area are `hex` (`#rrggbb`).
    pub fn count(&self, area: Area, hex: &str) -> usize {
        let colour = rgb(hex);
        self.pixels_in(area).filter(|(_, _, c)| *c == colour).count()
    }

    /// The smallest box holding every pixel of the area that is `hex`.
    pub fn extent(&self, area: Area, hex: &str) -> Option<Area> {
        let colour = rgb(hex);
        self.pixels_in(area).filter(|(_, _, c)| *c == colour).fold(None, |b, (x, y, _)| {
            let (l, t, r, bt) = b.unwrap_or((x, y, x, y));
            Some((l.min(x), t.min(y), r.max(x), bt.max(y)))
        })
    }

    /// The column with most pixels of `hex` in the area (a vertical line's).
    pub fn column(&self, area: Area, hex: &str) -> Option<usize> {
        let colour = rgb(hex);
        let mut per_column = std::collections::HashMap::new();
        self.pixels_in(area).filter(|(_, _, c)| *c == colour).for_each(|(x, _, _)| *per_column.entry(x).or_insert(0) += 1);
        per_column.into_iter().max_by_key(|&(x, n)| (n, std::cmp::Reverse(x))).map(|(x, _)| x)
    }
}

fn rgb(hex: &str) -> [u8; 3] {
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    [channel(1), channel(3), channel(5)]
}
