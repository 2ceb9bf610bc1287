// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing / scripting
import {Script} from "forge-std/Script.sol";

// Contracts
import {BatchInbox} from "../src/L1/BatchInbox.sol";
import {OpenPortal} from "../src/L1/OpenPortal.sol";
import {OpenToken} from "../src/L1/OpenToken.sol";
import {OutputOracle} from "../src/L1/OutputOracle.sol";
import {SystemConfig} from "../src/L1/SystemConfig.sol";

// Interfaces
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IOutputOracle} from "../src/interfaces/IOutputOracle.sol";
import {ISystemConfig} from "../src/interfaces/ISystemConfig.sol";

/// @title DeployL1
/// @notice Deploys the rollup's L1 suite (OpenToken, SystemConfig, OutputOracle, BatchInbox,
///         OpenPortal), checks it, and writes the addresses to `deployments/<network>/l1.json`.
///
///         forge script contracts/script/DeployL1.s.sol --rpc-url http://127.0.0.1:8545 \
///             --broadcast --private-key <deployer key>
///
///         Environment (all optional; defaults are anvil's well-known accounts):
///           OL_NETWORK                      deployments/<network>/ folder   (devnet)
///           OL_L1_OWNER                     SystemConfig owner              (the deployer)
///           OL_OPEN_HOLDER                  receives the whole OPEN supply  (the deployer)
///           OL_BATCHER                      batcher                         (anvil account 1)
///           OL_PROPOSER                     proposer                        (anvil account 2)
///           OL_GUARDIAN                     guardian                        (anvil account 3)
///           OL_FINALIZATION_PERIOD_SECONDS  finalization period             (12)
/// @dev Tests call `deploy(config)` directly (no broadcast, no file), so the production path is
///      what every L1 test runs on.
contract DeployL1 is Script {
    /// @notice What the suite is deployed with.
    struct Config {
        address owner;
        address openHolder;
        address batcher;
        address proposer;
        address guardian;
        uint256 finalizationPeriodSeconds;
    }

    /// @notice The deployed contracts.
    struct Deployment {
        OpenToken openToken;
        SystemConfig systemConfig;
        OutputOracle outputOracle;
        BatchInbox batchInbox;
        OpenPortal portal;
    }

    /// @notice anvil's accounts 1, 2 and 3 (mnemonic "test test ... junk").
    address internal constant ANVIL_1 = 0x70997970C51812dc3A010C7d01b50e0d17dc79C8;
    address internal constant ANVIL_2 = 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC;
    address internal constant ANVIL_3 = 0x90F79bf6EB2c4f870365E785982E1f101E93b906;

    /// @notice Deploys with the environment's configuration, checks, and writes the JSON.
    /// @return d_ The deployed contracts.
    function run() external returns (Deployment memory d_) {
        Config memory cfg = readConfig(msg.sender);
        vm.startBroadcast();
        d_ = deploy(cfg);
        vm.stopBroadcast();
        check(d_, cfg);
        write(d_, cfg, vm.envOr("OL_NETWORK", string("devnet")));
    }

    /// @notice The configuration from the environment, with devnet defaults.
    /// @param _deployer The broadcasting account (default owner and OPEN holder).
    /// @return cfg_ The configuration.
    function readConfig(address _deployer) public view returns (Config memory cfg_) {
        cfg_.owner = vm.envOr("OL_L1_OWNER", _deployer);
        cfg_.openHolder = vm.envOr("OL_OPEN_HOLDER", _deployer);
        cfg_.batcher = vm.envOr("OL_BATCHER", ANVIL_1);
        cfg_.proposer = vm.envOr("OL_PROPOSER", ANVIL_2);
        cfg_.guardian = vm.envOr("OL_GUARDIAN", ANVIL_3);
        cfg_.finalizationPeriodSeconds = vm.envOr("OL_FINALIZATION_PERIOD_SECONDS", uint256(12));
    }

    /// @notice Deploys the suite.
    /// @param _cfg The configuration.
    /// @return d_ The deployed contracts.
    function deploy(Config memory _cfg) public returns (Deployment memory d_) {
        d_.openToken = new OpenToken(_cfg.openHolder);
        d_.systemConfig = new SystemConfig(
            _cfg.owner, _cfg.batcher, _cfg.proposer, _cfg.guardian, _cfg.finalizationPeriodSeconds
        );
        d_.outputOracle = new OutputOracle(ISystemConfig(address(d_.systemConfig)));
        d_.batchInbox = new BatchInbox(ISystemConfig(address(d_.systemConfig)));
        d_.portal = new OpenPortal(
            IERC20(address(d_.openToken)),
            IOutputOracle(address(d_.outputOracle)),
            ISystemConfig(address(d_.systemConfig))
        );
    }

    /// @notice Reverts unless the deployment is wired as configured.
    /// @param _d   The deployment.
    /// @param _cfg The configuration.
    function check(Deployment memory _d, Config memory _cfg) public view {
        require(_d.systemConfig.owner() == _cfg.owner, "DeployL1: owner");
        require(_d.systemConfig.batcher() == _cfg.batcher, "DeployL1: batcher");
        require(_d.systemConfig.proposer() == _cfg.proposer, "DeployL1: proposer");
        require(_d.systemConfig.guardian() == _cfg.guardian, "DeployL1: guardian");
        require(
            _d.systemConfig.finalizationPeriodSeconds() == _cfg.finalizationPeriodSeconds,
            "DeployL1: finalization"
        );
        require(
            address(_d.outputOracle.systemConfig()) == address(_d.systemConfig), "DeployL1: oracle config"
        );
        require(address(_d.batchInbox.systemConfig()) == address(_d.systemConfig), "DeployL1: inbox config");
        require(address(_d.portal.token()) == address(_d.openToken), "DeployL1: portal token");
        require(address(_d.portal.oracle()) == address(_d.outputOracle), "DeployL1: portal oracle");
        require(address(_d.portal.systemConfig()) == address(_d.systemConfig), "DeployL1: portal config");
        require(
            _d.openToken.balanceOf(_cfg.openHolder) == _d.openToken.TOTAL_SUPPLY(), "DeployL1: OPEN supply"
        );
    }

    /// @notice Writes `deployments/<network>/l1.json`.
    /// @param _d       The deployment.
    /// @param _cfg     The configuration.
    /// @param _network The network name (folder).
    function write(Deployment memory _d, Config memory _cfg, string memory _network) public {
        string memory contracts = "contracts";
        vm.serializeAddress(contracts, "OpenToken", address(_d.openToken));
        vm.serializeAddress(contracts, "SystemConfig", address(_d.systemConfig));
        vm.serializeAddress(contracts, "OutputOracle", address(_d.outputOracle));
        vm.serializeAddress(contracts, "BatchInbox", address(_d.batchInbox));
        contracts = vm.serializeAddress(contracts, "OpenPortal", address(_d.portal));

        string memory roles = "roles";
        vm.serializeAddress(roles, "owner", _cfg.owner);
        vm.serializeAddress(roles, "openHolder", _cfg.openHolder);
        vm.serializeAddress(roles, "batcher", _cfg.batcher);
        vm.serializeAddress(roles, "proposer", _cfg.proposer);
        roles = vm.serializeAddress(roles, "guardian", _cfg.guardian);

        string memory root = "root";
        vm.serializeUint(root, "chainId", block.chainid);
        vm.serializeUint(root, "startBlock", block.number);
        vm.serializeUint(root, "finalizationPeriodSeconds", _cfg.finalizationPeriodSeconds);
        vm.serializeString(root, "contracts", contracts);
        root = vm.serializeString(root, "roles", roles);

        string memory dir = string.concat(vm.projectRoot(), "/deployments/", _network);
        vm.createDir(dir, true);
        vm.writeJson(root, string.concat(dir, "/l1.json"));
    }
}
