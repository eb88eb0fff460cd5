/* test_obfs4_ell2.c: Elligator 2 key pairs and representatives as obfs4proxy 0.0.14 makes them
 * (transports/obfs4/elligator.c; notes/wire-formats.md §1.7).
 *
 * Known answers: KAT §2 and §3 of testdata/obfs4_kat.txt (generated from upstream), plus tables
 * made by a scratch Go 1.19 program that ran obfs4proxy-0.0.14's internal/x25519ell2 unmodified
 * on filippo's edwards25519 (Go std's copy) and a port of edwards25519-extra's MontgomeryFlavor;
 * that program reproduced KAT §2/§3 and Monocypher's Elligator vectors before the tables were
 * taken from it. The Go seeds cover every low-order class priv[0] & 7 and both tweak bit-0
 * choices. Random keys then check the properties the protocol relies on: the representative
 * decodes to the public key whatever its top bits, X25519 with the dirty public key gives the
 * same shared secret as with the clean one, and about half the seeds have no representative. */
#include "unit.h"

#include <sodium.h>

#include "transports/obfs4/elligator.h"

static void unhex32(const char *s, uint8_t out[32])
{
    assert_int_equal(strlen(s), 64);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* Decoding ignores the top two bits: all four variants of repr give want. */
static void check_decode(const char *row, const uint8_t repr[32], const uint8_t want[32])
{
    for (int top = 0; top < 4; top++) {
        uint8_t r[32], pub[32];
        memcpy(r, repr, 32);
        r[31] = (uint8_t)((r[31] & 0x3f) | (top << 6));
        wr_ell2_repr_to_pub(r, pub);
        CHECK_MEM(row, pub, 32, want, 32);
    }
}

/* --- KAT §2: seed = 32 bytes of n ----------------------------------------------------------- */

static const struct {
    uint8_t fill;
    int rc;
    const char *priv, *repr, *pub, *std_pub; /* std_pub = crypto_scalarmult_base(priv) */
} kat2[] = {
    { 0x00, 0, "5046adc1dba838867b2bbbfdd0c3423e58b57970b5267a90f57960924a87f196",
      "da0fb12b819375a7ab843f5942f5fac1b4ad727b8e7a65e1822f6f7c456a59e1",
      "5bf55c73b82ebe22be80f3430667af570fae2556a6415e6b30d4065300aa947d",
      "5bf55c73b82ebe22be80f3430667af570fae2556a6415e6b30d4065300aa947d" },
    { 0x01, -1, NULL, NULL, NULL, NULL },
    { 0x02, 0, "aa3c626bc9c38c8c201878ebb1d5b0b50ac40e8986c78793db1d4ef369fca1ce",
      "9cb4f19cc5c4abb54cfcb01483220eacc1c9db4a2e16ada0388fe5c0bd180ad7",
      "a1735bc93a4ffc74fca4489fe2d6570e48b5df049badeb2b3a57e70ee9d04c6e",
      "60346e7c911a5f6ba154129174cafe75b294ac3bbd5549632f48cec6266f8410" },
    { 0x03, 0, "98aebbb178a551876bfaf8e1e530dac6aaf6c2ea1c8f8406a3ab37dfb40fbc25",
      "75f278455ef11bda332e30aa49a2b278a8ba9710ba8f4f2733d2e39664041485",
      "75e270df2952c57ba8367ba8618c178f9fe50db2799d304e74e918d985686146",
      "75e270df2952c57ba8367ba8618c178f9fe50db2799d304e74e918d985686146" },
    { 0x04, 0, "4b3e3c145d7e680a16676925fc045183d2f510cb2f660a1fc517c73762185dc3",
      "5fa9a2236436b19e88650e688b89814e5dbb24b4b65911753e3d49364682ca47",
      "99a6847c77223086dcd2f4125e363d60c25341836cf5801ed321544bd5152f5b",
      "edd03cade80d29de6ea313a74ab369f4732ecb36649066b78b5b2dd664cb0417" },
    { 0x05, 0, "4f370d6146de919cc1ce472897775d9a6c2834c509e08e14efcb2b52188f94ae",
      "a3242625c97a2cbfd29c8552a1830704e9af9ac1d2840a4124c120c37fa0e01f",
      "ddce2b38e689ea24973bcee54140f64d0779a147871a01c8afc8dee0f929b003",
      "c44e429251771ec76197c7a1f8ea289a18ca3dd7a7e102ba7cc84df6b55cbe1a" },
};

static void test_kat_keypairs(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(kat2); i++) {
        char row[32];
        snprintf(row, sizeof row, "seed %02x*32", kat2[i].fill);
        uint8_t seed[32], priv[32], pub[32], repr[32], want[32], zero[32] = { 0 };
        memset(seed, kat2[i].fill, 32);
        CHECK_INT(row, wr_ell2_keypair_from_seed(seed, priv, pub, repr), kat2[i].rc);
        if (kat2[i].rc != 0) { /* no representative: nothing half-made is left behind */
            CHECK_MEM(row, priv, 32, zero, 32);
            CHECK_MEM(row, pub, 32, zero, 32);
            CHECK_MEM(row, repr, 32, zero, 32);
            continue;
        }
        unhex32(kat2[i].priv, want);
        CHECK_MEM(row, priv, 32, want, 32);
        unhex32(kat2[i].repr, want);
        CHECK_MEM(row, repr, 32, want, 32);
        unhex32(kat2[i].pub, want);
        CHECK_MEM(row, pub, 32, want, 32);
        check_decode(row, repr, want);
        uint8_t std_pub[32];
        assert_int_equal(crypto_scalarmult_base(std_pub, priv), 0);
        unhex32(kat2[i].std_pub, want);
        CHECK_MEM(row, std_pub, 32, want, 32);
    }
}

/* KAT §2: RepresentativeToPublicKey ignores the top 2 bits of byte 31. */
static void test_kat_top_bits(void **state)
{
    (void)state;
    uint8_t repr[32], want[32];
    unhex32("673a505e107189ee54ca93310ac42e4545e9e59050aaac6f8b5f64295c8ec02f", repr);
    unhex32("242ae39ef158ed60f20b89396d7d7eef5374aba15dc312a6aea6d1e57cacf85e", want);
    check_decode("kat2 top bits", repr, want);
}

/* --- KAT §3: the ntor ephemerals, seed = SHA256(name) -------------------------------------- */

static void test_kat_ntor_ephemerals(void **state)
{
    (void)state;
    static const struct {
        const char *name, *priv, *pub, *repr;
    } v[] = {
        { "obfs4-kat-client-0", /* x, X, X' */
          "8dd587a496db9549d2c18ce4d465b852d82a51b93352c80fbab129326cb72b08",
          "a3a347dc529678d5e5879075a9ae370116018e56ff679defa328b1fa3b0da443",
          "0c550e56c63b38f06e99e9883d087220afb13a1d7e8cb8c0252bb3c34635e15d" },
        { "obfs4-kat-server-2", /* y, Y, Y' */
          "d8f3624bccfa44ced864620bbbdef9d9fd88b77bb2f08e598cf059c2fbe7fcce",
          "94c114dda5b2788e75b0a31ea64ec707d50d4d5cd05a69e3d6574663a3f1286b",
          "e628afe1a5c365b324bdb6631c0462aeb58861a8d5c30a943b8aed04ad1687ef" },
    };
    for (size_t i = 0; i < N_ELEMS(v); i++) {
        uint8_t seed[32], priv[32], pub[32], repr[32], want[32];
        crypto_hash_sha256(seed, (const uint8_t *)v[i].name, strlen(v[i].name));
        CHECK_INT(v[i].name, wr_ell2_keypair_from_seed(seed, priv, pub, repr), 0);
        unhex32(v[i].priv, want);
        CHECK_MEM(v[i].name, priv, 32, want, 32);
        unhex32(v[i].pub, want);
        CHECK_MEM(v[i].name, pub, 32, want, 32);
        unhex32(v[i].repr, want);
        CHECK_MEM(v[i].name, repr, 32, want, 32);
        unhex32(v[i].pub, want);
        check_decode(v[i].name, repr, want);
    }
}

/* --- upstream (Go) key pairs: seed = SHA256("warren-ell2-<row>") --------------------------- */

static const struct {
    int rc;
    const char *pub, *repr;
} go_keys[] = {
    { -1, NULL, NULL }, /* 0 */
    { -1, NULL, NULL }, /* 1 */
    { 0, /* 2 */
      "a4d5bea79d89668eb272d8f08b9bc08de3073595d9c23df722fdf6b113cf5221",
      "81512344ea339bcc7144a6e75f352c204527422a02b07b871e692e993f07ee52" },
    { -1, NULL, NULL }, /* 3 */
    { 0, /* 4 */
      "e20638f6a252bba2d4438b204a22c0e5fabf344c4b939223cb9434492a1bc178",
      "2bbe8072b1d5d0d1099221ea49adba4a0c61dc6a191bb79cc4804db942ba4cfa" },
    { 0, /* 5 */
      "d14d75664992c1428a9d697ddcef7a9c9cc6bc64033f3c7bd97a10afb146c912",
      "2be187971ce34bac946b39efca87e90521e55db465ec9a3e709e72139eb49110" },
    { 0, /* 6 */
      "7fd6f99e38eedcd7e2ac9ddb0fbd506ee1636db046be369d8fe4408fdb5f4f21",
      "48a8e5c7cb8b9e87a56e84ee4e90cd0ae5953545aa0c9c2cb482729929589704" },
    { 0, /* 7 */
      "fc89ed44fc80f8e3591cc808f410654a6bae8cf27840af610749c20b7c19e674",
      "c473a429ffd021668a2cd35835e8694e42d0f62ba3f61d24b5b5d0812314bf29" },
    { -1, NULL, NULL }, /* 8 */
    { -1, NULL, NULL }, /* 9 */
    { -1, NULL, NULL }, /* 10 */
    { 0, /* 11 */
      "52a3d913715a69f08393aa7bc04f040187d6a7829958f17f60cc1716361c8144",
      "c11cbe94d9a06a0bed97b05a1ba1a7d783e6e2cf4f61c0cf16bf7994ccaf8ee7" },
    { 0, /* 12 */
      "bb9fedb532d50cb7fff92626e10484fa00e5987e12584ce8e4627f2b973e9326",
      "e95aaed3a171ad8a4150e265c8fe8be73435944a354262b990b4cda86fd71b44" },
    { 0, /* 13 */
      "4e3f7c6af51204b23a197c28677c21b3815d53f347b6c1e08abbe56665f47b09",
      "c8765cce4ca770201a5f3cbfd5beca79b81b53e225e5e191ec34c3c1dc49b472" },
    { 0, /* 14 */
      "e2ee7be34fc286f240a0839c9fc024bfc326d66c501a9b5b6e736e6eee055b03",
      "66caddb2529dcea829d2f0ae9dc00c511820b2f24a602ecf5142cf181eb0cc40" },
    { 0, /* 15 */
      "e5987c682ce40951eb512ffc2bd54091baa930cc9d94aa6dd7a3999fe4ac3265",
      "7dfeb4938f88bed13db39206e227da27e4b799be86f03b1b16692ddcd414f888" },
    { -1, NULL, NULL }, /* 16 */
    { 0, /* 17 */
      "e911ea43a651d1b59b0be3912cbd60d6a2a476c24ca9370cb333c316958e422f",
      "0f20ad1a32a3d75f647f994cc970fd68f95b0ce94dd5e3a12359d28eadda7f0b" },
    { -1, NULL, NULL }, /* 18 */
    { -1, NULL, NULL }, /* 19 */
    { 0, /* 20 */
      "f24353eabe9303186574aeb81c613d9a98b27d18d650e2d0a98eca6af43eee0f",
      "9fda34be4ca9fe6b6b00d1ae57525865c188a2f59cb834502810e1ba0ed08e97" },
    { 0, /* 21 */
      "4e6c4f119a670108280f61f57cf9753e579bf6ef5baf1454159c78197cb5fe62",
      "5bca401f4e82a8f3fba973aecce1a33596cf616bef5ccf987dd82de1d86df247" },
    { -1, NULL, NULL }, /* 22 */
    { -1, NULL, NULL }, /* 23 */
};

static void test_go_keypairs(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(go_keys); i++) {
        char name[32];
        snprintf(name, sizeof name, "warren-ell2-%zu", i);
        uint8_t seed[32], priv[32], pub[32], repr[32], want[32];
        crypto_hash_sha256(seed, (const uint8_t *)name, strlen(name));
        CHECK_INT(name, wr_ell2_keypair_from_seed(seed, priv, pub, repr), go_keys[i].rc);
        if (go_keys[i].rc != 0)
            continue;
        unhex32(go_keys[i].pub, want);
        CHECK_MEM(name, pub, 32, want, 32);
        check_decode(name, repr, want);
        unhex32(go_keys[i].repr, want);
        CHECK_MEM(name, repr, 32, want, 32);
    }
}

/* --- decoding: Monocypher's vectors (tis-ci-vectors.h, as edwards25519-extra tests them), then
 * RepresentativeToPublicKey on SHA256("warren-ell2-dec-<n>") and on edge values (2^256-1, p,
 * 1, 2^255-18: after masking the last is p - (2^254-1), so it gives the same u as the first). */

static const struct {
    const char *repr, *pub;
} decodes[] = {
    { "0000000000000000000000000000000000000000000000000000000000000000",
      "0000000000000000000000000000000000000000000000000000000000000000" },
    { "673a505e107189ee54ca93310ac42e4545e9e59050aaac6f8b5f64295c8ec02f",
      "242ae39ef158ed60f20b89396d7d7eef5374aba15dc312a6aea6d1e57cacf85e" },
    { "922688fa428d42bc1fa8806998fbc5959ae801817e85a42a45e8ec25a0d7545a",
      "696f341266c64bcfa7afa834f8c34b2730be11c932e08474d1a22f26ed82410b" },
    { "0d3b0eb88b74ed13d5f6a130e03c4ad607817057dc227152827c0506a538bbba",
      "0b00df174d9fb0b6ee584d2cf05613130bad18875268c38b377e86dfefef177f" },
    { "01a3ea5658f4e00622eeacf724e0bd82068992fae66ed2b04a8599be16662ef5",
      "7ae4c58bc647b5646c9f5ae4c2554ccbf7c6e428e7b242a574a5a9c293c21f7e" },
    { "69599ab5a829c3e9515128d368da7354a8b69fcee4e34d0a668b783b6cae550f",
      "09024abaaef243e3b69366397e8dfc1fdc14a0ecc7cf497cbe4f328839acce69" },
    { "9172922f96d2fa41ea0daf961857056f1656ab8406db80eaeae76af58f8c9f50",
      "beab745a2a4b4e7f1a7335c3ffcdbd85139f3a72b667a01ee3e3ae0e530b3372" },
    { "6850a20ac5b6d2fa7af7042ad5be234d3311b9fb303753dd2b610bd566983281",
      "1287388eb2beeff706edb9cf4fcfdd35757f22541b61528570b86e8915be1530" },
    { "84417826c0e80af7cb25a73af1ba87594ff7048a26248b5757e52f2824e068f1",
      "51acd2e8910e7d28b4993db7e97e2b995005f26736f60dcdde94bdf8cb542251" },
    { "b0fbe152849f49034d2fa00ccc7b960fad7b30b6c4f9f2713eb01c147146ad31",
      "98508bb3590886af3be523b61c3d0ce6490bb8b27029878caec57e4c750f993d" },
    { "a0ca9ff75afae65598630b3b93560834c7f4dd29a557aa29c7becd49aeef3753",
      "3c5fad0516bb8ec53da1c16e910c23f792b971c7e2a0ee57d57c32e3655a646b" },
    { "162d521b292383224a632b614f7ab7f3c074b0b6f09bc98aae0bacf079f1adc6",
      "72051645e1ba2473a7a04e0897c0e07dc02949a1b619ae0531dd73f3f2194d1e" },
    { "fde8ebdf36ae8af091ed14d2a1d026ace34a600934ff5d71254bc7106e194b52",
      "51e5e919aa00f678dc5c8f5853ef5bcc58c44d30f971bccba648157e9deae73e" },
    { "752dae1d97c311c7af52ea379222f335afc507c5ed901a3086011314255bc302",
      "bc38af69ae682da6a64e8d5a7a5670796cd4ff1d6841f09982c043538696893f" },
    { "dce02d7d82086cafd7cef754bc4109e5b8e97b0669135654b18e31adf7222646",
      "25bd375483bf3e03ced9cb48a45bb20082538a572916768a7b960668a5d77f37" },
    { "e681dc9c1b4d916a32cf952dc5e1593a7ae3e3d6424f4cd7dc3df07169b35e10",
      "08563e898c89d18e5cbf4b876cdabf67907c144e78b20505e6cfc6bd45153508" },
    { "098050a925f45f700973580b51ee6df3bffe1bdb97d0ae158945c1d09e6d135c",
      "e56154eb3734d4b031385912ca83e35240a2f47ac71e3056444d6012efeb8129" },
    { "98f6cc312c6d81f2f94da86fa2437190cede5e738f67a1339b4fca87219e982c",
      "1d0333b89c37945f48736a8ec07e8085e383c025cb9bc7b228a160a71e46f556" },
    { "e06a10febeb5eab93bc4e7556ab73853158cacf7e0e5641ed2c66947ff059873",
      "f5f77f4bade369599624009ac3e3581c099bf96cc1d123e1fced33a614a34a50" },
    { "d25d3d9164efe62116ec67381c1d977974bd0da804109b415a0fe91c30925e77",
      "458242c628ba91e58baa2edbc20f09f97b52510040c4cb80e36f77e0373b0666" },
    { "1b3825ea5541220a10d1cfe26ac792ec200e7ecdf0ed3848ccfaa691e476be57",
      "2ba85f44c0f7b8ed3d18084c7e29fde77760dd3a42f0c73686b7f6becf37e532" },
    { "85f54d3f1edfcd067a395a3c79ee91874d038a8158cffb0dec37e6e733f72504",
      "5130f917fe221d1614818646712f3544db3a994203816254e86fcd7e5879b25f" },
    { "a66e525e915d0e7395370fffa80958fb4a5a153d4368b27e2a1545ee0a83e934",
      "66baeaeed5120de14535bb866ee2195771c64d2a8ee41443882dafabaf84722b" },
    { "544899af5eb76498cc1b1fbf25cadac5306522f1b47aa1a3800a6c6252a5efc8",
      "431d2a40cbfafd29e82b551c3e416894f4be2a7535368abeec5bb59ddb624014" },
    { "cfb970ebf58c48911fae73e4b36405d7922a780bf20a3f7e5c10467e1c0f1a1d",
      "16bc97df14be6575b78624e5033f5932759594e373a339ff678d599e67f07211" },
    { "1ed6cdac16885fa5d308540511481086feb2f5eeabded3f3392a882108efd7e0",
      "287870928e3154cc22584619455ba5cd3dd022a21757996cdafc0279868cf420" },
    { "44f68b5bf3156f59f88e2587f2ca354013a604e9eef1125cd8a0c52ccb9d4802",
      "7d0e8f7a067650465362cd596b5fc3db846c2acc6b99d38df47db27deb9e8c41" },
    { "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "80e5132b658f7f451b2b658f7f451b2b658f7f451b2b658f7f451b2b658f7f45" },
    { "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff3f",
      "bcf24d5555555555555555555555555555555555555555555555555555555555" },
    { "0100000000000000000000000000000000000000000000000000000000000000",
      "9cdb525555555555555555555555555555555555555555555555555555555555" },
    { "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "80e5132b658f7f451b2b658f7f451b2b658f7f451b2b658f7f451b2b658f7f45" },
};

static void test_decode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(decodes); i++) {
        uint8_t repr[32], want[32];
        unhex32(decodes[i].repr, repr);
        unhex32(decodes[i].pub, want);
        check_decode(decodes[i].repr, repr, want);
    }
}

/* p = 2^255 - 19, little-endian */
static int below_p(const uint8_t u[32])
{
    uint8_t p[32];
    memset(p, 0xff, sizeof p);
    p[0] = 0xed;
    p[31] = 0x7f;
    for (int i = 31; i >= 0; i--)
        if (u[i] != p[i])
            return u[i] < p[i];
    return 0;
}

/* Any 32 bytes decode, to a canonical u, the same for all four top-bit variants. */
static void test_decode_random(void **state)
{
    (void)state;
    for (int n = 0; n < 1000; n++) {
        uint8_t repr[32], pub[32];
        randombytes_buf(repr, sizeof repr);
        wr_ell2_repr_to_pub(repr, pub);
        if (!below_p(pub)) {
            char row[80];
            unit_hex(row, sizeof row, repr, 32);
            fail_msg("[%s] decodes to a non-canonical u", row);
        }
        check_decode("random", repr, pub);
    }
}

/* 200 random key pairs: what obfs4's ntor relies on. */
static void test_random_keypairs(void **state)
{
    (void)state;
    int ok = 0, failed = 0, top_set[2] = { 0 }, top_clear[2] = { 0 }, dirty = 0;
    while (ok < 200) {
        uint8_t seed[32], priv[32], pub[32], repr[32], clean[32];
        randombytes_buf(seed, sizeof seed);
        if (wr_ell2_keypair_from_seed(seed, priv, pub, repr) != 0) {
            failed++;
            continue;
        }
        ok++;
        char row[80];
        unit_hex(row, sizeof row, seed, 32);
        check_decode(row, repr, pub);

        /* The low-order component is there exactly when priv[0] & 7 != 0 ... */
        assert_int_equal(crypto_scalarmult_base(clean, priv), 0);
        CHECK_INT(row, memcmp(pub, clean, 32) != 0, (priv[0] & 7) != 0);
        dirty += (priv[0] & 7) != 0;
        /* ... and X25519 does not see it: a peer gets the same secret from either key. */
        uint8_t peer_priv[32], peer_pub[32], s_dirty[32], s_clean[32], s_mine[32];
        randombytes_buf(peer_priv, sizeof peer_priv);
        assert_int_equal(crypto_scalarmult_base(peer_pub, peer_priv), 0);
        assert_int_equal(crypto_scalarmult(s_dirty, peer_priv, pub), 0);
        assert_int_equal(crypto_scalarmult(s_clean, peer_priv, clean), 0);
        assert_int_equal(crypto_scalarmult(s_mine, priv, peer_pub), 0);
        CHECK_MEM(row, s_dirty, 32, s_clean, 32);
        CHECK_MEM(row, s_mine, 32, s_clean, 32);

        for (int b = 0; b < 2; b++) {
            if (repr[31] & (0x40 << b))
                top_set[b]++;
            else
                top_clear[b]++;
        }
    }
    /* ~50% of seeds fail; the bounds are many standard deviations wide. */
    double rate = (double)failed / (ok + failed);
    if (rate < 0.30 || rate > 0.70)
        fail_msg("%d of %d seeds had no representative (%.2f)", failed, ok + failed, rate);
    /* The top bits are random, not left at zero; most keys are dirty (7/8 expected). */
    for (int b = 0; b < 2; b++) {
        if (top_set[b] == 0 || top_clear[b] == 0)
            fail_msg("repr bit %d: set %d times, clear %d times", 254 + b, top_set[b],
                     top_clear[b]);
    }
    if (dirty < 140)
        fail_msg("only %d of 200 public keys carry a low-order component", dirty);
}

static void test_keypair(void **state)
{
    (void)state;
    uint8_t priv[32], pub[32], repr[32], pub2[32], priv2[32], repr2[32];
    wr_ell2_keypair(priv, pub, repr);
    check_decode("wr_ell2_keypair", repr, pub);
    wr_ell2_keypair(priv2, pub2, repr2);
    assert_memory_not_equal(priv, priv2, 32);
    assert_memory_not_equal(repr, repr2, 32);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kat_keypairs),
        cmocka_unit_test(test_kat_top_bits),
        cmocka_unit_test(test_kat_ntor_ephemerals),
        cmocka_unit_test(test_go_keypairs),
        cmocka_unit_test(test_decode_vectors),
        cmocka_unit_test(test_decode_random),
        cmocka_unit_test(test_random_keypairs),
        cmocka_unit_test(test_keypair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
