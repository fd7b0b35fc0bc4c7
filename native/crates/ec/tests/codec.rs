//! The Rust wrapper against known values and every loss pattern of small codes.

use thecloud_ec::{crc32c, EcError, ReedSolomon};

fn shards(k: usize, len: usize) -> Vec<Vec<u8>> {
    (0..k)
        .map(|i| (0..len).map(|b| (b * 31 + i * 7 + 1) as u8).collect())
        .collect()
}

#[test]
fn every_loss_of_up_to_m_shards_is_rebuilt() {
    for (k, m) in [(4, 2), (8, 3), (10, 4), (2, 1)] {
        let code = ReedSolomon::new(k, m).unwrap();
        let data = shards(k, 4099);
        let mut parity = vec![vec![0u8; 4099]; m];
        code.encode(&data, &mut parity).unwrap();
        let all: Vec<Vec<u8>> = data.into_iter().chain(parity).collect();
        for a in 0..k + m {
            for b in a..k + m {
                let mut damaged: Vec<Option<Vec<u8>>> = all.iter().cloned().map(Some).collect();
                damaged[a] = None;
                if m >= 2 {
                    damaged[b] = None;
                }
                code.reconstruct(&mut damaged).unwrap();
                let restored: Vec<Vec<u8>> = damaged.into_iter().map(Option::unwrap).collect();
                assert_eq!(restored, all, "{k}+{m} lost {a},{b}");
            }
        }
    }
}

#[test]
fn stripe_and_list_encodings_agree() {
    let code = ReedSolomon::new(4, 2).unwrap();
    let data = shards(4, 1000);
    let mut parity = vec![vec![0u8; 1000]; 2];
    code.encode(&data, &mut parity).unwrap();
    let mut stripe: Vec<u8> = data.concat();
    stripe.resize(6000, 0);
    code.encode_stripe(&mut stripe).unwrap();
    assert_eq!(&stripe[4000..], &parity.concat()[..]);
}

#[test]
fn bad_input_is_refused() {
    assert!(ReedSolomon::new(0, 2).is_err());
    assert!(ReedSolomon::new(200, 56).is_err());
    let code = ReedSolomon::new(4, 2).unwrap();
    let mut parity = vec![vec![0u8; 10]; 2];
    assert!(code.encode(&shards(3, 10), &mut parity).is_err());
    let mut uneven = shards(4, 10);
    uneven[2].push(0);
    assert!(code.encode(&uneven, &mut parity).is_err());
    let mut stripe = vec![0u8; 7];
    assert!(code.encode_stripe(&mut stripe).is_err());
    let mut lost: Vec<Option<Vec<u8>>> = vec![
        None,
        None,
        None,
        Some(vec![0; 4]),
        Some(vec![0; 4]),
        Some(vec![0; 4]),
    ];
    assert_eq!(
        code.reconstruct(&mut lost),
        Err(EcError::TooManyLost { lost: 3, max: 2 })
    );
}

#[test]
fn crc32c_check_value() {
    assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(crc32c(0, b"1234"), b"56789"), 0xE306_9283);
}
