package io.github.incus4j.remote;

import java.io.StringWriter;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.Date;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Self-signed EC P-384 certificates like the incus CLI's client.crt/client.key, written as PEM. */
final class TestCerts {
    final KeyPair keys;
    final X509Certificate cert;

    private TestCerts(KeyPair keys, X509Certificate cert) {
        this.keys = keys;
        this.cert = cert;
    }

    static TestCerts generate(String cn) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp384r1"));
        KeyPair kp = g.generateKeyPair();
        long now = System.currentTimeMillis();
        X500Name name = new X500Name("CN=" + cn + ",O=incus4j tests");
        X509Certificate c = new JcaX509CertificateConverter().getCertificate(new JcaX509v3CertificateBuilder(name,
                BigInteger.valueOf(now), new Date(now - 60_000), new Date(now + 86_400_000L), name, kp.getPublic())
                .build(new JcaContentSignerBuilder("SHA384withECDSA").build(kp.getPrivate())));
        return new TestCerts(kp, c);
    }

    String certPem() throws Exception {
        return pem(cert);
    }

    /**
     * The key as Incus writes it (Go's x509.MarshalECPrivateKey): SEC1 "EC PRIVATE KEY" with the curve and the
     * public key (the JDK's PKCS#8 inner structure has neither).
     */
    String sec1KeyPem() throws Exception {
        PrivateKeyInfo info = PrivateKeyInfo.getInstance(keys.getPrivate().getEncoded());
        byte[] pub = SubjectPublicKeyInfo.getInstance(keys.getPublic().getEncoded()).getPublicKeyData().getBytes();
        ECPrivateKey sec1 = new ECPrivateKey(384, ((java.security.interfaces.ECPrivateKey) keys.getPrivate()).getS(),
                new DERBitString(pub), info.getPrivateKeyAlgorithm().getParameters());
        return pem(new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
    }

    /** The key as openssl writes it by default: PKCS#8 "PRIVATE KEY". */
    String pkcs8KeyPem() throws Exception {
        return pem(new JcaPKCS8Generator(keys.getPrivate(), null).generate());
    }

    void write(Path crt, Path key) throws Exception {
        Files.writeString(crt, certPem());
        Files.writeString(key, sec1KeyPem());
    }

    String fingerprint() {
        return Tls.fingerprint(cert);
    }

    private static String pem(Object o) throws Exception {
        StringWriter sw = new StringWriter();
        try (Writer w = sw; JcaPEMWriter pw = new JcaPEMWriter(w)) {
            pw.writeObject(o);
        }
        return sw.toString();
    }
}
