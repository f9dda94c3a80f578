//! A three-server hub cluster on loopback: each nats-server with its own
//! `server_name`, client, route, leafnode (TLS) and monitoring ports, the
//! same JetStream domain `hub` and the same users file; pvm-cloud keeps its
//! streams with 3 replicas and hands nodes every server's leaf URL.

use super::*;

pub struct HubCluster {
    pub dir: PathBuf,
    /// The servers, `hub-0`, `hub-1`, `hub-2`.
    pub servers: Vec<HubNats>,
    pub monitors: Vec<u16>,
}

impl HubCluster {
    pub fn start(dir: &Path) -> HubCluster {
        std::fs::create_dir_all(dir).expect("cluster dir");
        let n = 3;
        let ports: Vec<(u16, u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port(), free_port()))
            .collect();
        std::fs::write(
            dir.join("users.conf"),
            format!("users = [ {{ user: \"{CLOUD_NATS_USER}\", password: \"{CLOUD_NATS_PASSWORD}\" }} ]\n"),
        )
        .expect("users");
        let tls_dir = dir.join("tls");
        let out = Command::new(CLOUD)
            .arg("--leaf-tls-dir")
            .arg(&tls_dir)
            .args([
                "--leaf-url",
                &format!("nats-leaf://127.0.0.1:{}", ports[0].2),
            ])
            .arg("leaf-tls")
            .output()
            .expect("pvm-cloud leaf-tls");
        assert!(
            out.status.success(),
            "pvm-cloud leaf-tls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let routes: Vec<String> = ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{}\"", p.1))
            .collect();
        let mut servers = Vec::new();
        for (i, &(port, route, leaf, _)) in ports.iter().enumerate() {
            let conf = dir.join(format!("hub-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: \"hub-{i}\"\nhost: 127.0.0.1\nport: {port}\nhttp: \"127.0.0.1:{monitor}\"\n\
                     pid_file: \"{pid}\"\n\
                     jetstream {{ store_dir: \"{js}\", domain: hub }}\n\
                     authorization {{\n  include \"users.conf\"\n}}\n\
                     cluster {{ name: hub, host: 127.0.0.1, port: {route}, routes: [ {routes} ] }}\n\
                     leafnodes {{ host: 127.0.0.1, port: {leaf}, tls: {{ cert_file: \"{cert}\", key_file: \"{key}\", timeout: 5 }} }}\n",
                    monitor = ports[i].3,
                    pid = dir.join(format!("hub-{i}.pid")).display(),
                    js = dir.join(format!("js-{i}")).display(),
                    routes = routes.join(", "),
                    cert = tls_dir.join("leaf.pem").display(),
                    key = tls_dir.join("leaf.key").display(),
                ),
            )
            .expect("hub conf");
            servers.push(HubNats {
                dir: dir.to_owned(),
                port,
                leaf_port: leaf,
                conf,
                proc: None,
                tls: Some(tls_dir.clone()),
            });
        }
        for s in &mut servers {
            s.restart();
        }
        let cluster = HubCluster {
            dir: dir.to_owned(),
            servers,
            monitors: ports.iter().map(|p| p.3).collect(),
        };
        cluster.wait_for_meta_leader();
        cluster
    }

    /// Until every server sees a JetStream meta leader and three peers.
    fn wait_for_meta_leader(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for m in &self.monitors {
            loop {
                let jsz = std::process::Command::new("curl")
                    .args(["-s", &format!("http://127.0.0.1:{m}/jsz")])
                    .output()
                    .ok()
                    .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok());
                let meta = jsz.as_ref().map(|j| &j["meta_cluster"]);
                let ready = meta.is_some_and(|m| {
                    m["leader"].as_str().is_some_and(|l| !l.is_empty())
                        && m["cluster_size"].as_u64() == Some(3)
                });
                if ready {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no JetStream meta leader: {jsz:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Which server (index) holds a leafnode connection now, per `/leafz`.
    pub async fn leaf_holder(&self) -> Option<usize> {
        for (i, m) in self.monitors.iter().enumerate() {
            if self.servers[i].proc.is_none() {
                continue;
            }
            let leafz: Option<Value> = async {
                reqwest::get(format!("http://127.0.0.1:{m}/leafz"))
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()
            }
            .await;
            let links = leafz
                .as_ref()
                .and_then(|l| l["leafs"].as_array())
                .map_or(0, Vec::len);
            if links > 0 {
                return Some(i);
            }
        }
        None
    }
}

impl Hub for HubCluster {
    fn cloud_args(&self) -> Vec<String> {
        let nats: Vec<String> = self.servers.iter().map(HubNats::cloud_url).collect();
        let leaves: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("nats-leaf://127.0.0.1:{}", s.leaf_port))
            .collect();
        let pids: Vec<String> = (0..self.servers.len())
            .map(|i| self.dir.join(format!("hub-{i}.pid")).display().to_string())
            .collect();
        vec![
            "--nats".into(),
            nats.join(","),
            "--leaf-url".into(),
            leaves.join(","),
            "--leaf-users".into(),
            self.dir.join("users.conf").display().to_string(),
            "--nats-pid".into(),
            pids.join(","),
            "--leaf-tls-dir".into(),
            self.dir.join("tls").display().to_string(),
            "--stream-replicas".into(),
            "3".into(),
        ]
    }
}
