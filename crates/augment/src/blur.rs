//! Gaussian blur with torchvision's kernel (`_get_gaussian_kernel1d`) and reflect padding, run
//! as two 1-D passes.

use crate::image::Image;

/// The normalised 1-D kernel: `exp(-x^2 / (2 sigma^2))` at `x = -(k-1)/2 .. (k-1)/2`.
pub fn gaussian_kernel(size: usize, sigma: f32) -> Vec<f32> {
    let half = (size as f32 - 1.0) * 0.5;
    let pdf: Vec<f32> = (0..size)
        .map(|i| {
            let x = -half + i as f32;
            (-0.5 * (x / sigma).powi(2)).exp()
        })
        .collect();
    let sum: f32 = pdf.iter().sum();
    pdf.into_iter().map(|v| v / sum).collect()
}

/// The odd kernel size that covers `+-3 sigma`: `2 ceil(3 sigma) + 1`.
pub fn kernel_size_for(sigma: f32) -> usize {
    2 * (3.0 * sigma).ceil().max(0.0) as usize + 1
}

/// Reflect padding without repeating the edge (`..., 2, 1 | 0, 1, 2, ... | n-2, n-3, ...`),
/// folded again when the offset exceeds the image, so any kernel size works on any image
/// (torch errors when the padding is not smaller than the image; ours keeps reflecting).
fn reflect(i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Blurs each channel with a `size x size` Gaussian of standard deviation `sigma` (torchvision
/// `gaussian_blur` with square kernel and equal sigmas). `size` must be odd.
pub fn gaussian_blur(img: &Image, size: usize, sigma: f32) -> Image {
    let k = gaussian_kernel(size, sigma);
    let r = (size / 2) as i64;
    let (h, w) = (img.height(), img.width());
    let mut out = img.clone();
    let mut tmp = vec![0.0f32; h * w];
    let xs: Vec<Vec<usize>> = (0..w as i64)
        .map(|x| (-r..=r).map(|d| reflect(x + d, w as i64)).collect())
        .collect();
    let ys: Vec<Vec<usize>> = (0..h as i64)
        .map(|y| (-r..=r).map(|d| reflect(y + d, h as i64)).collect())
        .collect();
    for c in 0..img.channels() {
        let src = img.plane(c);
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            for x in 0..w {
                tmp[y * w + x] = xs[x].iter().zip(&k).map(|(&j, &kv)| row[j] * kv).sum();
            }
        }
        let dst = out.plane_mut(c);
        dst.fill(0.0);
        for y in 0..h {
            let orow = &mut dst[y * w..(y + 1) * w];
            for (&j, &kv) in ys[y].iter().zip(&k) {
                let irow = &tmp[j * w..(j + 1) * w];
                for (o, i) in orow.iter_mut().zip(irow) {
                    *o += kv * i;
                }
            }
        }
    }
    out
}
